import IR

/// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear.
///
/// - QuantizeLinear: `q = saturate(roundHalfEven(x / scale) + zero_point)` for integer types (int/uint 2, 4, 8, 16,
///   32 bits; 2- and 4-bit values packed low bits first); for float8/float4 types `q = convert(x / scale + zp)`
///   rounding to nearest even, saturating to the largest finite value when `saturate` (else to Inf/NaN).
///   The output type is the zero point's, else `output_dtype` (opset 21), else uint8.
/// - DequantizeLinear: `y = (float(q) - float(zp)) · scale` in float32, then converted to the scale's type.
/// - Scale and zero point are per tensor (one element), per axis (1-D along `axis`) or blocked (opset 21
///   `block_size`: same rank as x, ⌈dim/block_size⌉ along `axis`).
/// - DynamicQuantizeLinear: uint8 with range [min(0, min x), max(0, max x)], scale = range/255,
///   zero point = saturate(roundHalfEven(-min/scale)).
func registerQuantizationOps(_ r: inout OpRegistry) {
    r.register("QuantizeLinear") { ctx in [try quantizeLinear(ctx)] }
    r.register("DequantizeLinear") { ctx in [try dequantizeLinear(ctx)] }
    r.register("DynamicQuantizeLinear") { ctx in try dynamicQuantizeLinear(ctx) }
}

/// Maps every element of `x` to the index of its scale/zero-point entry.
private struct ParameterIndex {
    let outer: Int, count: Int, inner: Int, block: Int, mode: Mode
    enum Mode { case tensor, axis, blocked }

    init(_ ctx: OpContext, x: Tensor, scale: Tensor) throws {
        var axis = ctx.int("axis", default: 1)
        let blockSize = ctx.opset >= 21 ? ctx.int("block_size", default: 0) : 0
        if scale.elementCount == 1 && blockSize == 0 {
            (outer, count, inner, block, mode) = (x.elementCount, 1, 1, 1, .tensor)
            return
        }
        if axis < 0 { axis += x.rank }
        guard axis >= 0, axis < x.rank else { throw ctx.failure("axis \(ctx.int("axis", default: 1)) out of range for rank \(x.rank)") }
        outer = x.shape[..<axis].reduce(1, *)
        count = x.shape[axis]
        inner = x.shape[(axis + 1)...].reduce(1, *)
        if blockSize > 0 {
            var expected = x.shape
            expected[axis] = (count + blockSize - 1) / blockSize
            guard scale.shape == expected else { throw ctx.failure("blocked scale \(scale.shape) must be \(expected)") }
            (block, mode) = (blockSize, .blocked)
        } else {
            guard scale.rank == 1, scale.elementCount == count else {
                throw ctx.failure("per-axis scale \(scale.shape) must be [\(count)] for axis \(axis) of \(x.shape)")
            }
            (block, mode) = (1, .axis)
        }
    }

    @inline(__always)
    func callAsFunction(_ e: Int) -> Int {
        switch mode {
        case .tensor: return 0
        case .axis: return (e / inner) % count
        case .blocked:
            let blocks = (count + block - 1) / block
            let i = e % inner, a = (e / inner) % count, o = e / (inner * count)
            return (o * blocks + a / block) * inner + i
        }
    }
}

private func quantizeLinear(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.input(0), scale = try ctx.input(1)
    guard x.elementType.isFloatingPoint, scale.elementType.isFloatingPoint else {
        throw ctx.unsupported("input \(x.elementType) / scale \(scale.elementType)")
    }
    let zeroPoint = ctx.optionalInput(2)
    let outputType: ElementType
    if let zeroPoint {
        outputType = zeroPoint.elementType
    } else if ctx.opset >= 21, ctx.int("output_dtype", default: 0) != 0 {
        guard let t = ElementType(rawValue: Int32(clamping: ctx.int("output_dtype", default: 0))) else {
            throw ctx.failure("invalid output_dtype")
        }
        outputType = t
    } else {
        outputType = .uint8
    }
    let index = try ParameterIndex(ctx, x: x, scale: scale)
    if let zeroPoint, zeroPoint.shape != scale.shape, zeroPoint.elementCount != scale.elementCount {
        throw ctx.failure("zero point \(zeroPoint.shape) must match scale \(scale.shape)")
    }
    let values = x.floatValues(), scales = scale.floatValues()
    let zeros = try zeroPoint.map { try decode($0, ctx) } ?? [Float](repeating: 0, count: scales.count)
    let saturate = ctx.int("saturate", default: 1) != 0
    if let range = integerRange(outputType) {
        let codes = values.indices.map { e -> Int64 in
            let k = index(e)
            let q = (values[e] / scales[k]).rounded(.toNearestOrEven) + zeros[k]
            guard !q.isNaN else { return 0 }
            return Int64(min(max(Double(q), Double(range.lowerBound)), Double(range.upperBound)))
        }
        return try encodeIntegers(codes, outputType, x.shape, ctx)
    }
    guard let format = Minifloat(outputType) else { throw ctx.unsupported("output type \(outputType)") }
    let codes = values.indices.map { e -> UInt8 in
        let k = index(e)
        return format.encode(values[e] / scales[k] + zeros[k], saturate: saturate)
    }
    return packed(codes.map(UInt64.init), outputType, x.shape)
}

private func dequantizeLinear(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.input(0), scale = try ctx.input(1)
    guard scale.elementType.isFloatingPoint else { throw ctx.unsupported("scale type \(scale.elementType)") }
    let zeroPoint = ctx.optionalInput(2)
    if let zeroPoint, zeroPoint.elementType != x.elementType {
        throw ctx.failure("zero point type \(zeroPoint.elementType) differs from input \(x.elementType)")
    }
    let index = try ParameterIndex(ctx, x: x, scale: scale)
    let values = try decode(x, ctx), scales = scale.floatValues()
    let zeros = try zeroPoint.map { try decode($0, ctx) } ?? [Float](repeating: 0, count: scales.count)
    guard zeros.count == scales.count else { throw ctx.failure("zero point \(zeroPoint?.shape ?? []) must match scale \(scale.shape)") }
    let result = values.indices.map { e -> Float in
        let k = index(e)
        return (values[e] - zeros[k]) * scales[k]
    }
    let out = Tensor(floats: result, shape: x.shape)
    return scale.elementType == .float ? out : try convert(out, to: scale.elementType, ctx: ctx)
}

private func dynamicQuantizeLinear(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.floatInput(0, "input")
    let values = x.floatValues()
    let low = min(0, values.min() ?? 0), high = max(0, values.max() ?? 0)
    let scale = (high - low) / 255
    let zeroPoint = scale == 0 ? 0 : min(max((-low / scale).rounded(.toNearestOrEven), 0), 255)
    let codes = values.map { v -> UInt8 in
        guard scale != 0 else { return UInt8(zeroPoint) }
        return UInt8(min(max((v / scale).rounded(.toNearestOrEven) + zeroPoint, 0), 255))
    }
    return [Tensor(.uint8, shape: x.shape, values: codes), Tensor(scalar: scale),
            Tensor(.uint8, shape: [], values: [UInt8(zeroPoint)])]
}

/// Representable range of an integer quantization type.
func integerRange(_ type: ElementType) -> ClosedRange<Int64>? {
    switch type {
    case .uint8: 0...255
    case .int8: -128...127
    case .uint16: 0...65535
    case .int16: -32768...32767
    case .int32: Int64(Int32.min)...Int64(Int32.max)
    case .uint4: 0...15
    case .int4: -8...7
    case .uint2: 0...3
    case .int2: -2...1
    default: nil
    }
}

/// Stores integer codes as `type` (two's complement, sub-byte types packed low bits first).
func encodeIntegers(_ codes: [Int64], _ type: ElementType, _ shape: [Int], _ ctx: OpContext) throws -> Tensor {
    switch type {
    case .uint8: return Tensor(.uint8, shape: shape, values: codes.map { UInt8(truncatingIfNeeded: $0) })
    case .int8: return Tensor(.int8, shape: shape, values: codes.map { Int8(truncatingIfNeeded: $0) })
    case .uint16: return Tensor(.uint16, shape: shape, values: codes.map { UInt16(truncatingIfNeeded: $0) })
    case .int16: return Tensor(.int16, shape: shape, values: codes.map { Int16(truncatingIfNeeded: $0) })
    case .int32: return Tensor(.int32, shape: shape, values: codes.map { Int32(truncatingIfNeeded: $0) })
    case .uint4, .int4, .uint2, .int2: return packed(codes.map { UInt64(bitPattern: $0) }, type, shape)
    default: throw ctx.unsupported("output type \(type)")
    }
}

/// Packs codes of `type.bitWidth` ≤ 8 bits into a tensor, element 0 in the lowest bits of byte 0.
private func packed(_ codes: [UInt64], _ type: ElementType, _ shape: [Int]) -> Tensor {
    let bits = type.bitWidth
    var bytes = [UInt8](repeating: 0, count: type.byteCount(for: codes.count))
    let mask = UInt64((1 << bits) - 1)
    for (i, c) in codes.enumerated() {
        let bit = i * bits
        bytes[bit / 8] |= UInt8(truncatingIfNeeded: (c & mask) << UInt64(bit % 8))
    }
    let storage = bytes.withUnsafeBytes { TensorStorage(copying: $0) }
    return Tensor(elementType: type, shape: shape, storage: storage)
}

/// Every element of a quantized (or float) tensor as Float: integers exactly up to 2^24, float8/float4 decoded.
private func decode(_ t: Tensor, _ ctx: OpContext) throws -> [Float] {
    let n = t.elementCount
    switch t.elementType {
    case .uint4, .int4, .uint2, .int2, .float4e2m1, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz:
        let bits = t.elementType.bitWidth
        let raw = t.storage.bytes
        let format = Minifloat(t.elementType)
        return (0..<n).map { i in
            let bit = i * bits
            let code = (raw[bit / 8] >> UInt8(bit % 8)) & UInt8((1 << bits) - 1)
            if let format { return format.decode(code) }
            if t.elementType.isSigned && code & UInt8(1 << (bits - 1)) != 0 { return Float(Int(code) - (1 << bits)) }
            return Float(code)
        }
    case .float8e8m0:
        throw ctx.unsupported("type float8e8m0")
    default:
        guard t.elementType.isInteger || t.elementType.isFloatingPoint else { throw ctx.unsupported("type \(t.elementType)") }
        return t.floatValues()
    }
}

/// A small float format (float8 variants, float4e2m1): decoding by formula, encoding by nearest code.
private struct Minifloat {
    let bits: Int, exponentBits: Int, mantissaBits: Int, bias: Int
    /// fnuz formats: no negative zero, the code 1000…0 is NaN, no Inf.
    let unsignedZero: Bool
    let hasInfinity: Bool
    /// e4m3fn: all-ones is NaN (no Inf).
    let allOnesNaN: Bool
    /// Non-negative finite values by code (index = code without the sign bit).
    let table: [Float]

    init?(_ type: ElementType) {
        switch type {
        case .float8e4m3fn: (bits, exponentBits, mantissaBits, bias, unsignedZero, hasInfinity, allOnesNaN) = (8, 4, 3, 7, false, false, true)
        case .float8e4m3fnuz: (bits, exponentBits, mantissaBits, bias, unsignedZero, hasInfinity, allOnesNaN) = (8, 4, 3, 8, true, false, false)
        case .float8e5m2: (bits, exponentBits, mantissaBits, bias, unsignedZero, hasInfinity, allOnesNaN) = (8, 5, 2, 15, false, true, false)
        case .float8e5m2fnuz: (bits, exponentBits, mantissaBits, bias, unsignedZero, hasInfinity, allOnesNaN) = (8, 5, 2, 16, true, false, false)
        case .float4e2m1: (bits, exponentBits, mantissaBits, bias, unsignedZero, hasInfinity, allOnesNaN) = (4, 2, 1, 1, false, false, false)
        default: return nil
        }
        let (m, b) = (mantissaBits, bias)
        table = (0..<(1 << (bits - 1))).map { code in
            let exponent = code >> m, mantissa = code & ((1 << m) - 1)
            let fraction = Float(mantissa) / Float(1 << m)
            return exponent == 0 ? fraction * Float.pow2(1 - b) : (1 + fraction) * Float.pow2(exponent - b)
        }
    }

    var signBit: UInt8 { UInt8(1 << (bits - 1)) }
    var magnitudeMask: UInt8 { signBit - 1 }
    /// Largest finite magnitude code.
    var maxCode: Int {
        let top = (1 << (bits - 1)) - 1
        if allOnesNaN { return top - 1 }
        if hasInfinity { return top - (1 << mantissaBits) }
        return top
    }
    var nanCode: UInt8 { unsignedZero ? signBit : (bits == 8 ? 0x7F : 0) }

    func decode(_ code: UInt8) -> Float {
        let magnitude = Int(code & magnitudeMask), negative = code & signBit != 0
        if unsignedZero && code == signBit { return .nan }
        if allOnesNaN && magnitude == Int(magnitudeMask) { return .nan }
        if hasInfinity && magnitude >> mantissaBits == (1 << exponentBits) - 1 {
            return magnitude & ((1 << mantissaBits) - 1) == 0 ? (negative ? -.infinity : .infinity) : .nan
        }
        return negative ? -table[magnitude] : table[magnitude]
    }

    func encode(_ v: Float, saturate: Bool) -> UInt8 {
        if v.isNaN { return nanCode }
        let sign: UInt8 = v.sign == .minus && !unsignedZero ? signBit : 0
        let a = abs(v)
        let top = maxCode
        if a > table[top] {
            // Past the largest finite value: round to it if within half an ulp or saturating.
            let ulp = table[top] - table[top - 1]
            if saturate || (a < table[top] + ulp / 2 && !a.isInfinite) { return sign | UInt8(top) }
            if hasInfinity { return sign | UInt8(top + 1) }
            return bits == 8 && !unsignedZero ? sign | 0x7F : nanCode
        }
        // Nearest code; ties go to the even code (mantissa LSB 0).
        var best = 0
        for code in 1...top {
            let d = abs(table[code] - a), e = abs(table[best] - a)
            if d < e || (d == e && code & 1 == 0) { best = code }
        }
        if best == 0 && unsignedZero { return 0 }
        return sign | UInt8(best)
    }
}

private extension Float {
    /// 2^e for small exponents.
    static func pow2(_ e: Int) -> Float { Float(sign: .plus, exponent: e, significand: 1) }
}
