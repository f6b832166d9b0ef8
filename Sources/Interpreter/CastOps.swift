import IR

/// Cast and CastLike between the numeric and bool types (float16/bfloat16 included).
func registerCastOps(_ r: inout OpRegistry) {
    r.register("Cast") { ctx in
        let raw = try ctx.requiredAttribute("to")
        guard let code = raw.int, let type = ElementType(rawValue: Int32(clamping: code)) else {
            throw ctx.failure("invalid 'to' type \(raw.int ?? -1)")
        }
        return [try convert(try ctx.input(0), to: type, ctx: ctx)]
    }
    r.register("CastLike") { ctx in [try convert(try ctx.input(0), to: try ctx.input(1).elementType, ctx: ctx)] }
}

/// Converts every element of `x` to `type` (floats to ints truncate toward zero, as numpy's astype does).
func convert(_ x: Tensor, to type: ElementType, ctx: OpContext) throws -> Tensor {
    if x.elementType == type { return x }
    let out = try ctx.allocate(type, x.shape)
    let n = x.elementCount
    let src = x.storage.baseAddress
    let dst = out.storage.mutableBaseAddress
    if x.elementType.isFloatingPoint || type.isFloatingPoint {
        guard let read = doubleReader(x.elementType), let write = doubleWriter(type) else {
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

private func load<T: BitwiseCopyable>(_ p: UnsafeRawPointer, _ i: Int, _: T.Type) -> T {
    p.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: T.self)
}

private func store<T: BitwiseCopyable>(_ p: UnsafeMutableRawPointer, _ i: Int, _ v: T) {
    p.storeBytes(of: v, toByteOffset: i * MemoryLayout<T>.stride, as: T.self)
}

/// Float to integer as numpy does on x86 for in-range values: truncation; NaN and out-of-range saturate to 0/limits.
private func truncated(_ v: Double, min lo: Double, max hi: Double) -> Int64 {
    guard v.isFinite else { return v.isNaN ? 0 : (v > 0 ? Int64(hi) : Int64(lo)) }
    return Int64(Swift.max(lo, Swift.min(hi, v.rounded(.towardZero))))
}

private func doubleReader(_ type: ElementType) -> DoubleReader? {
    switch type {
    case .float: { Double(load($0, $1, Float.self)) }
    case .double: { load($0, $1, Double.self) }
    case .float16: { Double(Float16(bitPattern: load($0, $1, UInt16.self))) }
    case .bfloat16: { Double(Float(bitPattern: UInt32(load($0, $1, UInt16.self)) << 16)) }
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

private func doubleWriter(_ type: ElementType) -> DoubleWriter? {
    switch type {
    case .float: { store($0, $1, Float($2)) }
    case .double: { store($0, $1, $2) }
    case .float16: { store($0, $1, Float16(Float($2)).bitPattern) }
    case .bfloat16: { p, i, v in store(p, i, bfloat16Bits(Float(v))) }
    case .int8: { store($0, $1, Int8(truncated($2, min: -128, max: 127))) }
    case .uint8: { store($0, $1, UInt8(truncated($2, min: 0, max: 255))) }
    case .int16: { store($0, $1, Int16(truncated($2, min: -32768, max: 32767))) }
    case .uint16: { store($0, $1, UInt16(truncated($2, min: 0, max: 65535))) }
    case .int32: { store($0, $1, Int32(truncated($2, min: -2147483648, max: 2147483647))) }
    case .uint32: { store($0, $1, UInt32(truncated($2, min: 0, max: 4294967295))) }
    case .int64: { store($0, $1, truncated($2, min: -9.2e18, max: 9.2e18)) }
    case .uint64: { store($0, $1, UInt64(max(0, truncated($2, min: 0, max: 9.2e18)))) }
    case .bool: { store($0, $1, UInt8($2 != 0 ? 1 : 0)) }
    default: nil
    }
}

/// Round-to-nearest-even float32 → bfloat16 (NaN stays NaN).
func bfloat16Bits(_ f: Float) -> UInt16 {
    if f.isNaN { return 0x7FC0 }
    let bits = f.bitPattern
    let rounding = ((bits >> 16) & 1) + 0x7FFF
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

private func integerReader(_ type: ElementType) -> IntegerReader? {
    switch type {
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
