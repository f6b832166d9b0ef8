import IR

/// Cast and CastLike between every ONNX element type except complex; BitCast (reinterpretation, equal widths).
///
/// Semantics follow the ONNX spec and its reference data (onnx 1.22, ml_dtypes casts):
/// - float → integer truncates toward zero; out-of-range values saturate to the type's limits and NaN becomes 0
///   (numpy leaves this undefined; saturation is the deterministic choice). Integer → integer wraps.
/// - int4/uint4/int2/uint2 are packed low bits first; any value → them truncates to an integer and wraps (keeps the
///   low bits), as ml_dtypes does.
/// - float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz) and float4e2m1 round to nearest even. With `saturate` (default)
///   out-of-range values and ±inf become ±max; without it they become NaN (inf for e5m2). fnuz types have no -0.
///   float4e2m1 always saturates and maps NaN to 0x8.
/// - float8e8m0 (exponent only) rounds per `round_mode` (up, down, nearest), saturating inf to 2^127.
/// - strings parse as numbers ("inf", "nan" accepted); numbers format as Swift's shortest round-trip form.
func registerCastOps(_ r: inout OpRegistry) {
    r.register("Cast") { ctx in
        let raw = try ctx.requiredAttribute("to")
        guard let code = raw.int, let type = ElementType(rawValue: Int32(clamping: code)) else {
            throw ctx.failure("invalid 'to' type \(raw.int ?? -1)")
        }
        return [try convert(try ctx.input(0), to: type, options: try CastOptions(ctx), ctx: ctx)]
    }
    r.register("BitCast") { ctx in
        // Same bits, new element type: shares the input's storage.
        let x = try ctx.input(0)
        let raw = try ctx.requiredAttribute("to")
        guard let code = raw.int, let type = ElementType(rawValue: Int32(clamping: code)) else {
            throw ctx.failure("invalid 'to' type")
        }
        guard type.bitWidth == x.elementType.bitWidth, type != .string, x.elementType != .string else {
            throw ctx.failure("cannot bit-cast \(x.elementType) to \(type): widths differ")
        }
        return [Tensor(elementType: type, shape: x.shape, storage: x.storage)]
    }
    r.register("CastLike") { ctx in
        [try convert(try ctx.input(0), to: try ctx.input(1).elementType, options: try CastOptions(ctx), ctx: ctx)]
    }
}

/// Rounding of a float to float8e8m0 (a power of two).
enum ExponentRounding: Sendable { case up, down, nearest }

/// Cast's attributes that change the conversion of out-of-range values.
struct CastOptions: Sendable {
    var saturate = true
    var rounding = ExponentRounding.up

    init() {}

    init(_ ctx: OpContext) throws {
        saturate = ctx.int("saturate", default: 1) != 0
        switch ctx.string("round_mode", default: "up") {
        case "up": rounding = .up
        case "down": rounding = .down
        case "nearest": rounding = .nearest
        case let other: throw ctx.unsupported("round_mode '\(other)'")
        }
    }
}

/// Converts every element of `x` to `type` (see the file comment for the rules).
func convert(_ x: Tensor, to type: ElementType, options: CastOptions = CastOptions(), ctx: OpContext) throws -> Tensor {
    if x.elementType == type { return x }
    if x.elementType == .string || type == .string { return try convertStrings(x, to: type, ctx: ctx) }
    let n = x.elementCount
    // Packed outputs are written with bit ORs, so they start zeroed.
    let out = type.bitWidth < 8 ? try ctx.allocateZeroed(type, x.shape) : try ctx.allocate(type, x.shape)
    guard n > 0 else { return out }
    let src = x.storage.baseAddress
    let dst = out.storage.mutableBaseAddress
    if fastConvert(src, x.elementType, dst, type, n) { return out }
    if type != .bool, try dispatchNumericIfPossible(x.elementType, CastSource(x: x, out: out)) == true { return out }
    if x.elementType.isFloatingPoint || type.isFloatingPoint {
        guard let read = doubleReader(x.elementType), let write = doubleWriter(type, options) else {
            throw ctx.unsupported("Cast from \(x.elementType) to \(type)")
        }
        for i in 0..<n { write(dst, i, read(src, i)) }
    } else {
        guard let read = integerReader(x.elementType), let write = integerWriter(type) else {
            throw ctx.unsupported("Cast from \(x.elementType) to \(type)")
        }
        for i in 0..<n { write(dst, i, read(src, i)) }
    }
    return out
}

/// An int64 vector as a tensor of integer `type`.
func castInt64s(_ values: [Int64], to type: ElementType, shape: [Int], ctx: OpContext) throws -> Tensor {
    let t = Tensor(int64s: values, shape: shape)
    return type == .int64 ? t : try convert(t, to: type, ctx: ctx)
}

private typealias DoubleReader = (UnsafeRawPointer, Int) -> Double
private typealias DoubleWriter = (UnsafeMutableRawPointer, Int, Double) -> Void
private typealias IntegerReader = (UnsafeRawPointer, Int) -> Int64
private typealias IntegerWriter = (UnsafeMutableRawPointer, Int, Int64) -> Void

@inline(__always)
private func load<T: BitwiseCopyable>(_ p: UnsafeRawPointer, _ i: Int, _: T.Type) -> T {
    p.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: T.self)
}

@inline(__always)
private func store<T: BitwiseCopyable>(_ p: UnsafeMutableRawPointer, _ i: Int, _ v: T) {
    p.storeBytes(of: v, toByteOffset: i * MemoryLayout<T>.stride, as: T.self)
}

/// Element `i` of a packed `bits`-wide type (low bits first), zero-extended.
@inline(__always)
private func loadPacked(_ p: UnsafeRawPointer, _ i: Int, bits: Int) -> UInt8 {
    let bit = i * bits
    return (p.load(fromByteOffset: bit >> 3, as: UInt8.self) >> UInt8(bit & 7)) & UInt8((1 << bits) - 1)
}

/// ORs the low `bits` of `v` into element `i` (the buffer starts zeroed).
@inline(__always)
private func storePacked(_ p: UnsafeMutableRawPointer, _ i: Int, bits: Int, _ v: UInt8) {
    let bit = i * bits
    let byte = p.load(fromByteOffset: bit >> 3, as: UInt8.self)
    p.storeBytes(of: byte | ((v & UInt8((1 << bits) - 1)) << UInt8(bit & 7)), toByteOffset: bit >> 3, as: UInt8.self)
}

/// Sign-extends a `bits`-wide two's complement value.
@inline(__always)
private func signExtended(_ v: UInt8, bits: Int) -> Int64 {
    let shift = 64 - bits
    return (Int64(v) << shift) >> shift
}

/// Float to integer: truncation; NaN becomes 0 and out-of-range values saturate.
private func truncated(_ v: Double, min lo: Double, max hi: Double) -> Int64 {
    guard v.isFinite else { return v.isNaN ? 0 : (v > 0 ? Int64(hi) : Int64(lo)) }
    return Int64(Swift.max(lo, Swift.min(hi, v.rounded(.towardZero))))
}

private func uint64Truncated(_ v: Double) -> UInt64 {
    guard !v.isNaN else { return 0 }
    if v <= 0 { return 0 }
    if v >= 18446744073709549568 { return .max }
    return UInt64(v.rounded(.towardZero))
}

/// Common conversions as tight typed loops; false when the pair has no fast path.
private func fastConvert(
    _ src: UnsafeRawPointer, _ from: ElementType, _ dst: UnsafeMutableRawPointer, _ to: ElementType, _ n: Int
) -> Bool {
    func run<S: BitwiseCopyable, D: BitwiseCopyable>(_: S.Type, _: D.Type, _ f: (S) -> D) {
        for i in 0..<n { store(dst, i, f(load(src, i, S.self))) }
    }
    switch (from, to) {
    case (.float, .float16): run(Float.self, UInt16.self) { Float16($0).bitPattern }
    case (.float16, .float): run(UInt16.self, Float.self) { Float(Float16(bitPattern: $0)) }
    case (.float, .double): run(Float.self, Double.self) { Double($0) }
    case (.int64, .float): run(Int64.self, Float.self) { Float($0) }
    case (.int32, .float): run(Int32.self, Float.self) { Float($0) }
    case (.int64, .int32): run(Int64.self, Int32.self) { Int32(truncatingIfNeeded: $0) }
    case (.int32, .int64): run(Int32.self, Int64.self) { Int64($0) }
    case (.float, .int64): run(Float.self, Int64.self) { truncated(Double($0), min: -9.223372036854775808e18, max: 9.2233720368547748e18) }
    case (.float, .int32): run(Float.self, Int32.self) { Int32(truncated(Double($0), min: -2147483648, max: 2147483647)) }
    case (.uint8, .float): run(UInt8.self, Float.self) { Float($0) }
    case (.bool, .float): run(UInt8.self, Float.self) { $0 != 0 ? 1 : 0 }
    default: return false
    }
    return true
}

/// Typed loops for every pair of plain numeric types (floats through Double, integers wrapping through Int64).
private struct CastSource: NumericVisitor {
    let x: Tensor, out: Tensor

    func visit<S: NumericElement>(_: S.Type) throws -> Bool {
        try dispatchNumericIfPossible(out.elementType, CastDestination<S>(x: x, out: out)) != nil
    }
}

private struct CastDestination<S: NumericElement>: NumericVisitor {
    let x: Tensor, out: Tensor

    func visit<D: NumericElement>(_: D.Type) throws {
        let d = mutableElements(out, D.self)
        x.withUnsafeBufferPointer(as: S.self) { s in
            let n = Swift.min(s.count, out.elementCount)
            if S.isFloatingPointElement || D.isFloatingPointElement {
                for i in 0..<n { d[i] = D.fromDouble(s[i].doubleValue) }
            } else {
                for i in 0..<n { d[i] = D.wrapping(s[i].int64Value) }
            }
        }
    }
}

private func doubleReader(_ type: ElementType) -> DoubleReader? {
    switch type {
    case .float: { Double(load($0, $1, Float.self)) }
    case .double: { load($0, $1, Double.self) }
    case .float16: { Double(Float16(bitPattern: load($0, $1, UInt16.self))) }
    case .bfloat16: { Double(Float(bitPattern: UInt32(load($0, $1, UInt16.self)) << 16)) }
    case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz:
        { p, i in decodeMinifloat(load(p, i, UInt8.self), MinifloatFormat(type)) }
    case .float4e2m1: { decodeMinifloat(loadPacked($0, $1, bits: 4), MinifloatFormat(.float4e2m1)) }
    case .float8e8m0: { p, i in
        let code = load(p, i, UInt8.self)
        return code == 0xFF ? .nan : Double(sign: .plus, exponent: Int(code) - 127, significand: 1)
    }
    case .int4: { Double(signExtended(loadPacked($0, $1, bits: 4), bits: 4)) }
    case .uint4: { Double(loadPacked($0, $1, bits: 4)) }
    case .int2: { Double(signExtended(loadPacked($0, $1, bits: 2), bits: 2)) }
    case .uint2: { Double(loadPacked($0, $1, bits: 2)) }
    case .int8: { Double(load($0, $1, Int8.self)) }
    case .uint8: { Double(load($0, $1, UInt8.self)) }
    case .int16: { Double(load($0, $1, Int16.self)) }
    case .uint16: { Double(load($0, $1, UInt16.self)) }
    case .int32: { Double(load($0, $1, Int32.self)) }
    case .uint32: { Double(load($0, $1, UInt32.self)) }
    case .int64: { Double(load($0, $1, Int64.self)) }
    case .uint64: { Double(load($0, $1, UInt64.self)) }
    case .bool: { load($0, $1, UInt8.self) != 0 ? 1 : 0 }
    default: nil
    }
}

private func doubleWriter(_ type: ElementType, _ options: CastOptions) -> DoubleWriter? {
    switch type {
    case .float: { store($0, $1, Float($2)) }
    case .double: { store($0, $1, $2) }
    case .float16: { store($0, $1, Float16($2).bitPattern) }
    case .bfloat16: { p, i, v in store(p, i, bfloat16Bits(Float(v))) }
    case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz:
        { p, i, v in store(p, i, encodeMinifloat(v, MinifloatFormat(type), saturate: options.saturate)) }
    case .float4e2m1: { storePacked($0, $1, bits: 4, encodeMinifloat($2, MinifloatFormat(.float4e2m1), saturate: true)) }
    case .float8e8m0: { p, i, v in store(p, i, encodeE8M0(Float(v), options)) }
    case .int4, .uint4: { storePacked($0, $1, bits: 4, UInt8(truncatingIfNeeded: truncated($2, min: -9e18, max: 9e18))) }
    case .int2, .uint2: { storePacked($0, $1, bits: 2, UInt8(truncatingIfNeeded: truncated($2, min: -9e18, max: 9e18))) }
    case .int8: { store($0, $1, Int8(truncated($2, min: -128, max: 127))) }
    case .uint8: { store($0, $1, UInt8(truncated($2, min: 0, max: 255))) }
    case .int16: { store($0, $1, Int16(truncated($2, min: -32768, max: 32767))) }
    case .uint16: { store($0, $1, UInt16(truncated($2, min: 0, max: 65535))) }
    case .int32: { store($0, $1, Int32(truncated($2, min: -2147483648, max: 2147483647))) }
    case .uint32: { store($0, $1, UInt32(truncated($2, min: 0, max: 4294967295))) }
    case .int64: { store($0, $1, truncated($2, min: -9.223372036854775808e18, max: 9.2233720368547748e18)) }
    case .uint64: { store($0, $1, uint64Truncated($2)) }
    case .bool: { store($0, $1, UInt8($2 != 0 ? 1 : 0)) }
    default: nil
    }
}

/// Round-to-nearest-even float32 → bfloat16 (NaN stays NaN).
func bfloat16Bits(_ f: Float) -> UInt16 {
    if f.isNaN { return f.sign == .minus ? 0xFFC0 : 0x7FC0 }
    let bits = f.bitPattern
    let rounding = ((bits >> 16) & 1) + 0x7FFF
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

private func integerReader(_ type: ElementType) -> IntegerReader? {
    switch type {
    case .int4: { signExtended(loadPacked($0, $1, bits: 4), bits: 4) }
    case .uint4: { Int64(loadPacked($0, $1, bits: 4)) }
    case .int2: { signExtended(loadPacked($0, $1, bits: 2), bits: 2) }
    case .uint2: { Int64(loadPacked($0, $1, bits: 2)) }
    case .int8: { Int64(load($0, $1, Int8.self)) }
    case .uint8: { Int64(load($0, $1, UInt8.self)) }
    case .int16: { Int64(load($0, $1, Int16.self)) }
    case .uint16: { Int64(load($0, $1, UInt16.self)) }
    case .int32: { Int64(load($0, $1, Int32.self)) }
    case .uint32: { Int64(load($0, $1, UInt32.self)) }
    case .int64: { load($0, $1, Int64.self) }
    case .uint64: { Int64(bitPattern: load($0, $1, UInt64.self)) }
    case .bool: { load($0, $1, UInt8.self) != 0 ? 1 : 0 }
    default: nil
    }
}

/// Integer narrowing wraps (two's complement), as numpy's astype does.
private func integerWriter(_ type: ElementType) -> IntegerWriter? {
    switch type {
    case .int4, .uint4: { storePacked($0, $1, bits: 4, UInt8(truncatingIfNeeded: $2)) }
    case .int2, .uint2: { storePacked($0, $1, bits: 2, UInt8(truncatingIfNeeded: $2)) }
    case .int8: { store($0, $1, Int8(truncatingIfNeeded: $2)) }
    case .uint8: { store($0, $1, UInt8(truncatingIfNeeded: $2)) }
    case .int16: { store($0, $1, Int16(truncatingIfNeeded: $2)) }
    case .uint16: { store($0, $1, UInt16(truncatingIfNeeded: $2)) }
    case .int32: { store($0, $1, Int32(truncatingIfNeeded: $2)) }
    case .uint32: { store($0, $1, UInt32(truncatingIfNeeded: $2)) }
    case .int64: { store($0, $1, $2) }
    case .uint64: { store($0, $1, UInt64(bitPattern: $2)) }
    case .bool: { store($0, $1, UInt8($2 != 0 ? 1 : 0)) }
    default: nil
    }
}

// MARK: small floats

/// Layout of a sign/exponent/mantissa float narrower than 16 bits.
struct MinifloatFormat: Sendable {
    var mantissaBits: Int
    var bias: Int
    /// Largest finite magnitude and its code.
    var maxValue: Double
    var maxCode: UInt8
    var signBit: UInt8
    /// Code for NaN (sign added unless `unsignedZero`), nil when the type has none.
    var nanCode: UInt8?
    /// Code for +inf (IEEE-like e5m2 only).
    var infCode: UInt8?
    /// fnuz types: no negative zero, NaN is the would-be -0 pattern 0x80.
    var unsignedZero: Bool

    init(_ type: ElementType) {
        switch type {
        case .float8e4m3fn:
            self.init(mantissaBits: 3, bias: 7, maxValue: 448, maxCode: 0x7E, signBit: 0x80, nanCode: 0x7F,
                      infCode: nil, unsignedZero: false)
        case .float8e4m3fnuz:
            self.init(mantissaBits: 3, bias: 8, maxValue: 240, maxCode: 0x7F, signBit: 0x80, nanCode: 0x80,
                      infCode: nil, unsignedZero: true)
        case .float8e5m2:
            self.init(mantissaBits: 2, bias: 15, maxValue: 57344, maxCode: 0x7B, signBit: 0x80, nanCode: 0x7E,
                      infCode: 0x7C, unsignedZero: false)
        case .float8e5m2fnuz:
            self.init(mantissaBits: 2, bias: 16, maxValue: 57344, maxCode: 0x7F, signBit: 0x80, nanCode: 0x80,
                      infCode: nil, unsignedZero: true)
        default:  // float4e2m1
            self.init(mantissaBits: 1, bias: 1, maxValue: 6, maxCode: 0x7, signBit: 0x8, nanCode: nil,
                      infCode: nil, unsignedZero: false)
        }
    }

    private init(mantissaBits: Int, bias: Int, maxValue: Double, maxCode: UInt8, signBit: UInt8, nanCode: UInt8?,
                 infCode: UInt8?, unsignedZero: Bool) {
        self.mantissaBits = mantissaBits
        self.bias = bias
        self.maxValue = maxValue
        self.maxCode = maxCode
        self.signBit = signBit
        self.nanCode = nanCode
        self.infCode = infCode
        self.unsignedZero = unsignedZero
    }
}

func decodeMinifloat(_ code: UInt8, _ f: MinifloatFormat) -> Double {
    let negative = code & f.signBit != 0
    let magnitude = code & (f.signBit - 1)
    if let nan = f.nanCode {
        if f.unsignedZero ? code == nan : magnitude == nan & (f.signBit - 1) { return .nan }
        if f.nanCode == 0x7E && magnitude > 0x7C { return .nan }  // e5m2: every exponent-31 pattern but inf
    }
    if let inf = f.infCode, magnitude == inf { return negative ? -.infinity : .infinity }
    let exponent = Int(magnitude) >> f.mantissaBits
    let mantissa = Double(Int(magnitude) & ((1 << f.mantissaBits) - 1))
    let value = exponent == 0
        ? Double(sign: .plus, exponent: 1 - f.bias - f.mantissaBits, significand: mantissa)
        : Double(sign: .plus, exponent: exponent - f.bias, significand: 1 + mantissa / Double(1 << f.mantissaBits))
    return negative ? -value : value
}

/// Round-to-nearest-even encoding; out-of-range values saturate to ±max or become NaN/inf (see the file comment).
func encodeMinifloat(_ v: Double, _ f: MinifloatFormat, saturate: Bool) -> UInt8 {
    let sign: UInt8 = v.sign == .minus ? f.signBit : 0
    guard !v.isNaN else { return f.nanCode.map { f.unsignedZero ? $0 : $0 | sign } ?? f.signBit }
    let overflow: UInt8
    if saturate || f.nanCode == nil {
        overflow = f.maxCode | sign
    } else if let inf = f.infCode {
        overflow = inf | sign
    } else {
        overflow = f.unsignedZero ? f.signBit : (f.nanCode ?? 0) | sign
    }
    let a = Swift.abs(v)
    if a.isInfinite { return overflow }
    let minExponent = 1 - f.bias
    let exponent = a == 0 ? minExponent : Swift.max(Int(a.exponent), minExponent)
    let quantum = Double(sign: .plus, exponent: exponent - f.mantissaBits, significand: 1)
    let r = (a / quantum).rounded(.toNearestOrEven) * quantum
    if r > f.maxValue { return overflow }
    if r == 0 { return f.unsignedZero ? 0 : sign }
    let code: Int
    if r < Double(sign: .plus, exponent: minExponent, significand: 1) {
        code = Int(r / quantum)
    } else {
        let e = Int(r.exponent)
        let mantissa = Int((r.significand - 1) * Double(1 << f.mantissaBits))
        code = (e + f.bias) << f.mantissaBits | mantissa
    }
    return UInt8(code) | sign
}

/// float32 → float8e8m0 (2^(code-127), 0xFF is NaN); the sign is ignored.
func encodeE8M0(_ v: Float, _ options: CastOptions) -> UInt8 {
    if v.isNaN { return 0xFF }
    if v.isInfinite { return options.saturate ? 0xFE : 0xFF }
    let bits = v.bitPattern
    var exponent = (bits >> 23) & 0xFF
    let mantissa = bits & 0x7F_FFFF
    switch options.rounding {
    case .up: if mantissa != 0 { exponent += 1 }
    case .down: break
    case .nearest: if mantissa >= 0x40_0000 { exponent += 1 }
    }
    if exponent >= 0xFF { return options.saturate ? 0xFE : 0xFF }
    return UInt8(exponent)
}

// MARK: strings

private func convertStrings(_ x: Tensor, to type: ElementType, ctx: OpContext) throws -> Tensor {
    if type == .string {
        guard let read = doubleReader(x.elementType) else { throw ctx.unsupported("Cast from \(x.elementType) to string") }
        let src = x.storage.baseAddress
        let text: [[UInt8]] = (0..<x.elementCount).map { i in
            let v = read(src, i)
            let s: String
            if x.elementType == .bool {
                s = v != 0 ? "True" : "False"
            } else if x.elementType.isInteger {
                s = String(Int64(v))
            } else if x.elementType == .double {
                s = String(describing: v)
            } else {
                s = String(describing: Float(v))
            }
            return Array(s.utf8)
        }
        return Tensor(elementType: .string, shape: x.shape, storage: TensorStorage(zeroed: 0), strings: text)
    }
    let parsed: [Double] = try x.strings.map { bytes in
        let text = String(decoding: bytes, as: UTF8.self).trimmingPrefixAndSuffixSpaces()
        guard let d = Double(text) else { throw ctx.failure("cannot parse '\(text)' as a number") }
        return d
    }
    let doubles = Tensor(.double, shape: x.shape, values: parsed)
    if type == .double { return doubles }
    if type.isInteger {
        // Integers parse exactly where Double would lose digits.
        let ints: [Int64] = x.strings.enumerated().map { i, bytes in
            Int64(String(decoding: bytes, as: UTF8.self).trimmingPrefixAndSuffixSpaces()) 
                ?? truncated(parsed[i], min: -9.223372036854775808e18, max: 9.2233720368547748e18)
        }
        return try convert(Tensor(int64s: ints, shape: x.shape), to: type, ctx: ctx)
    }
    return try convert(doubles, to: type, ctx: ctx)
}

private extension String {
    func trimmingPrefixAndSuffixSpaces() -> String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
