// Concat, Split, Gather and Pad on contiguous tensors, element-size generic (all sizes in elements, `elementSize`
// in bytes), so every dtype shares the code.

/// ONNX Concat viewed as [outer, axis, inner]: input i is [outer, axisSizes[i], inner]; output is
/// [outer, Σ axisSizes, inner]. Each (outer, input) pair is one memcpy.
public func concat(
    inputs: [UnsafeRawPointer], axisSizes: [Int], outer: Int, inner: Int, elementSize: Int,
    dst: UnsafeMutableRawPointer
) {
    precondition(inputs.count == axisSizes.count, "concat: inputs/axisSizes mismatch")
    let rowBytes = axisSizes.reduce(0, +) * inner * elementSize
    for o in 0..<outer {
        var d = dst + o * rowBytes
        for (i, src) in inputs.enumerated() {
            let bytes = axisSizes[i] * inner * elementSize
            d.copyMemory(from: src + o * bytes, byteCount: bytes)
            d += bytes
        }
    }
}

/// ONNX Split, the inverse of `concat`: output i receives [outer, axisSizes[i], inner].
public func split(
    src: UnsafeRawPointer, outer: Int, axisSizes: [Int], inner: Int, elementSize: Int,
    outputs: [UnsafeMutableRawPointer]
) {
    precondition(outputs.count == axisSizes.count, "split: outputs/axisSizes mismatch")
    let rowBytes = axisSizes.reduce(0, +) * inner * elementSize
    for o in 0..<outer {
        var s = src + o * rowBytes
        for (i, out) in outputs.enumerated() {
            let bytes = axisSizes[i] * inner * elementSize
            (out + o * bytes).copyMemory(from: s, byteCount: bytes)
            s += bytes
        }
    }
}

/// ONNX Gather along an axis, data viewed as [outer, axisLength, inner]; output is [outer, indices.count, inner].
/// Negative indices count from the end; indices must lie in [-axisLength, axisLength) (callers validate).
public func gather(
    src: UnsafeRawPointer, outer: Int, axisLength: Int, inner: Int, indices: UnsafeBufferPointer<Int64>,
    elementSize: Int, dst: UnsafeMutableRawPointer
) {
    let rowBytes = inner * elementSize
    let k = indices.count
    for o in 0..<outer {
        let s = src + o * axisLength * rowBytes
        let d = dst + o * k * rowBytes
        for (j, raw) in indices.enumerated() {
            let idx = raw < 0 ? Int(raw) + axisLength : Int(raw)
            precondition(idx >= 0 && idx < axisLength, "gather: index \(raw) out of range \(axisLength)")
            (d + j * rowBytes).copyMemory(from: s + idx * rowBytes, byteCount: rowBytes)
        }
    }
}

/// ONNX Pad modes.
public enum PadMode: Sendable, Equatable {
    case constant, reflect, edge, wrap
}

/// ONNX Pad: `padsBegin`/`padsEnd` per axis (negative values crop). Output shape is shape + begin + end.
/// `constant` points at one element of `elementSize` bytes, used for `.constant` mode.
///
/// Each axis gets a table mapping output index → source index (or -1 for the constant); the innermost axis is then
/// copied as runs of consecutive source indices (memcpy) and constant runs.
public func pad(
    src: UnsafeRawPointer, shape: [Int], padsBegin: [Int], padsEnd: [Int], mode: PadMode,
    constant: UnsafeRawPointer, elementSize: Int, dst: UnsafeMutableRawPointer
) {
    let rank = shape.count
    precondition(padsBegin.count == rank && padsEnd.count == rank, "pad: rank mismatch")
    let outShape = (0..<rank).map { shape[$0] + padsBegin[$0] + padsEnd[$0] }
    let total = outShape.reduce(1, *)
    guard total > 0 else { return }
    if rank == 0 {
        dst.copyMemory(from: src, byteCount: elementSize)
        return
    }
    let tables = (0..<rank).map { padIndexTable(outShape[$0], shape[$0], padsBegin[$0], mode) }
    let inStrides = contiguousStrides(shape)
    // Runs on the last axis: (output start, source start or -1, length).
    var runs = [(Int, Int, Int)]()
    let last = tables[rank - 1]
    var i = 0
    while i < last.count {
        var j = i + 1
        if last[i] < 0 {
            while j < last.count && last[j] < 0 { j += 1 }
        } else {
            while j < last.count && last[j] == last[j - 1] + 1 { j += 1 }
        }
        runs.append((i, last[i], j - i))
        i = j
    }
    let inner = outShape[rank - 1]
    let rows = total / inner
    let rowBytes = inner * elementSize
    // Rows are independent copies: split them over the threads (whole rows, ≥ 32 KB each piece), bit-exact.
    parallelFor(rows, minChunk: max(1, 32_768 / max(1, rowBytes))) { range in
        // Multi-index (over all but the last axis) of the first row of this piece.
        var index = [Int](repeating: 0, count: rank)
        var rest = range.lowerBound
        for axis in stride(from: rank - 2, through: 0, by: -1) {
            index[axis] = rest % outShape[axis]
            rest /= outShape[axis]
        }
        for row in range {
            let d = dst + row * rowBytes
            var off = 0
            var isConstant = false
            for axis in 0..<(rank - 1) {
                let s = tables[axis][index[axis]]
                if s < 0 { isConstant = true; break }
                off += s * inStrides[axis]
            }
            if isConstant {
                fillElements(d, constant, inner, elementSize)
            } else {
                for (start, source, length) in runs {
                    if source < 0 {
                        fillElements(d + start * elementSize, constant, length, elementSize)
                    } else {
                        (d + start * elementSize).copyMemory(from: src + (off + source) * elementSize,
                                                             byteCount: length * elementSize)
                    }
                }
            }
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Source index for each output index along one axis, -1 where the constant goes.
func padIndexTable(_ outSize: Int, _ size: Int, _ begin: Int, _ mode: PadMode) -> [Int] {
    (0..<outSize).map { o in
        let i = o - begin
        if i >= 0 && i < size { return i }
        if size == 0 { return -1 }
        switch mode {
        case .constant: return -1
        case .edge: return i < 0 ? 0 : size - 1
        case .wrap: return ((i % size) + size) % size
        case .reflect:
            if size == 1 { return 0 }
            let period = 2 * (size - 1)
            let m = ((i % period) + period) % period
            return m < size ? m : period - m
        }
    }
}

/// n copies of the `es`-byte element at `value` from d: typed stores for the common sizes (one memmove call per
/// element made Pad ~20% of ppocrv4_rec's time).
@inline(__always)
func fillElements(_ d: UnsafeMutableRawPointer, _ value: UnsafeRawPointer, _ n: Int, _ es: Int) {
    switch es {
    case 4:
        let v = value.loadUnaligned(as: UInt32.self)
        for k in 0..<n { d.storeBytes(of: v, toByteOffset: k * 4, as: UInt32.self) }
    case 8:
        let v = value.loadUnaligned(as: UInt64.self)
        for k in 0..<n { d.storeBytes(of: v, toByteOffset: k * 8, as: UInt64.self) }
    case 2:
        let v = value.loadUnaligned(as: UInt16.self)
        for k in 0..<n { d.storeBytes(of: v, toByteOffset: k * 2, as: UInt16.self) }
    case 1:
        let v = value.load(as: UInt8.self)
        for k in 0..<n { d.storeBytes(of: v, toByteOffset: k, as: UInt8.self) }
    default:
        for k in 0..<n { (d + k * es).copyMemory(from: value, byteCount: es) }
    }
}
