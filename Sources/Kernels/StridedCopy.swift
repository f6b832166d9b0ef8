import Foundation

/// Copies a strided view into a contiguous buffer: `dst[i0,…,ik] = src[Σ i_j · srcStrides[j]]` over `shape`.
///
/// Element-size generic (bytes), so integer and bool tensors use the same code. Strides are in elements and may be
/// 0 (broadcast) or negative (reversed slices; `src` then points at the first element read, not the buffer start).
/// Transpose, Slice, Expand and Tile are all this one operation with different strides. Axes are folded first;
/// then the inner loop is a memcpy (stride 1), a fill (stride 0), a cache-blocked 2-D transpose (the second-to-last
/// axis has stride 1), or an element loop.
public func stridedCopy(
    src: UnsafeRawPointer, srcStrides: [Int], shape: [Int], elementSize: Int, dst: UnsafeMutableRawPointer
) {
    precondition(srcStrides.count == shape.count, "stridedCopy: rank mismatch")
    let total = shape.reduce(1, *)
    guard total > 0 else { return }
    var dims = [Int](), strides = [Int]()
    for i in 0..<shape.count where shape[i] != 1 {
        if let last = dims.last, strides.last! == srcStrides[i] * shape[i] {
            dims[dims.count - 1] = last * shape[i]
            strides[strides.count - 1] = srcStrides[i]
        } else {
            dims.append(shape[i])
            strides.append(srcStrides[i])
        }
    }
    if dims.isEmpty {
        dst.copyMemory(from: src, byteCount: elementSize)
        return
    }
    let rank = dims.count
    // Blocked transpose of the last two axes when the second-to-last is the contiguous one.
    if rank >= 2 && strides[rank - 2] == 1 && strides[rank - 1] != 1 && strides[rank - 1] != 0 {
        let a = dims[rank - 2], b = dims[rank - 1], sb = strides[rank - 1]
        let batches = total / (a * b)
        forEachRow(Array(dims[0..<(rank - 2)]), Array(strides[0..<(rank - 2)]), batches, a * b * elementSize) {
            srcOffset, row in
            transposeBlock(src + srcOffset * elementSize, dst + row * a * b * elementSize, a, b, sb, elementSize)
        }
        return
    }
    let inner = dims[rank - 1], innerStride = strides[rank - 1]
    let rows = total / inner
    forEachRow(Array(dims[0..<(rank - 1)]), Array(strides[0..<(rank - 1)]), rows, inner * elementSize) {
        srcOffset, row in
        copyRow(src + srcOffset * elementSize, innerStride, dst + row * inner * elementSize, inner, elementSize)
    }
}

/// Calls `body(srcOffset, rowIndex)` for every index of the outer axes, in row-major order, split over threads when
/// the copy is large (rows × bytesPerRow > 1 MB).
@inline(__always)
func forEachRow(_ dims: [Int], _ strides: [Int], _ rows: Int, _ bytesPerRow: Int, _ body: (Int, Int) -> Void) {
    let minRows = max(1, (1 << 20) / max(1, bytesPerRow))
    // One chunk whatever the thread count (parallelFor would run it inline too): go straight to the loop, so a
    // small copy (constant folding's slices) never reads `KernelConfig.threads`, whose first read asks the OS for
    // the processor count (~0.5M instructions, a tenth of a millisecond).
    if rows < 2 * minRows {
        copyRows(dims, strides, 0..<rows, body)
        return
    }
    parallelFor(rows, minChunk: minRows) { range in copyRows(dims, strides, range, body) }
}

/// `forEachRow`'s loop over the rows in `range`.
@inline(__always)
private func copyRows(_ dims: [Int], _ strides: [Int], _ range: Range<Int>, _ body: (Int, Int) -> Void) {
    let rank = dims.count
    var index = [Int](repeating: 0, count: rank)
    var off = 0
    var rem = range.lowerBound
    for axis in stride(from: rank - 1, through: 0, by: -1) {
        index[axis] = rem % dims[axis]
        rem /= dims[axis]
        off += index[axis] * strides[axis]
    }
    for row in range {
        body(off, row)
        var axis = rank - 1
        while axis >= 0 {
            index[axis] += 1
            off += strides[axis]
            if index[axis] < dims[axis] { break }
            off -= dims[axis] * strides[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

@inline(__always)
func copyRow(_ src: UnsafeRawPointer, _ stride: Int, _ dst: UnsafeMutableRawPointer, _ n: Int, _ es: Int) {
    if stride == 1 {
        dst.copyMemory(from: src, byteCount: n * es)
        return
    }
    switch es {
    case 4: copyElements(src, stride, dst, n, UInt32.self)
    case 8: copyElements(src, stride, dst, n, UInt64.self)
    case 2: copyElements(src, stride, dst, n, UInt16.self)
    case 1: copyElements(src, stride, dst, n, UInt8.self)
    default:
        for i in 0..<n { (dst + i * es).copyMemory(from: src + i * stride * es, byteCount: es) }
    }
}

@inline(__always)
func copyElements<T>(_ src: UnsafeRawPointer, _ stride: Int, _ dst: UnsafeMutableRawPointer, _ n: Int, _: T.Type) {
    let d = dst.assumingMemoryBound(to: T.self)
    if stride == 0 {
        d.update(repeating: src.loadUnaligned(as: T.self), count: n)
        return
    }
    let byteStride = stride * MemoryLayout<T>.size
    for i in 0..<n { d[i] = src.loadUnaligned(fromByteOffset: i * byteStride, as: T.self) }
}

/// dst[i][j] (a×b, contiguous) = src[i + j·sb], in 32×32 tiles so both sides stay in L1.
func transposeBlock(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ a: Int, _ b: Int, _ sb: Int, _ es: Int) {
    switch es {
    case 4: transposeTiles(src, dst, a, b, sb, UInt32.self)
    case 8: transposeTiles(src, dst, a, b, sb, UInt64.self)
    case 2: transposeTiles(src, dst, a, b, sb, UInt16.self)
    case 1: transposeTiles(src, dst, a, b, sb, UInt8.self)
    default:
        for i in 0..<a {
            for j in 0..<b { (dst + (i * b + j) * es).copyMemory(from: src + (i + j * sb) * es, byteCount: es) }
        }
    }
}

@inline(__always)
func transposeTiles<T>(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ a: Int, _ b: Int, _ sb: Int,
                       _: T.Type) {
    let s = src.assumingMemoryBound(to: T.self)
    let d = dst.assumingMemoryBound(to: T.self)
    // A side of a few elements (NHWC ↔ NCHW with 1-4 channels): plain passes, one per element of the short side,
    // step the long side with pointers; every pass stays within the same cache lines, so tiles would only add loop
    // overhead.
    if b <= 4 {
        for j in 0..<b {
            var p = s + j * sb, q = d + j
            for _ in 0..<a {
                q.pointee = p.pointee
                p += 1
                q += b
            }
        }
        return
    }
    if a <= 4 {
        for i in 0..<a {
            var p = s + i, q = d + i * b
            for _ in 0..<b {
                q.pointee = p.pointee
                p += sb
                q += 1
            }
        }
        return
    }
    let tile = 32
    var i0 = 0
    while i0 < a {
        let i1 = min(a, i0 + tile)
        var j0 = 0
        while j0 < b {
            let j1 = min(b, j0 + tile)
            for i in i0..<i1 {
                let drow = d + i * b
                for j in j0..<j1 { drow[j] = s[i + j * sb] }
            }
            j0 = j1
        }
        i0 = i1
    }
}

/// ONNX Transpose: output axis i is input axis `perm[i]`. `shape` is the input shape; both buffers contiguous.
public func transpose(
    src: UnsafeRawPointer, shape: [Int], perm: [Int], elementSize: Int, dst: UnsafeMutableRawPointer
) {
    precondition(perm.count == shape.count && Set(perm) == Set(0..<shape.count), "transpose: bad perm")
    let inStrides = contiguousStrides(shape)
    stridedCopy(src: src, srcStrides: perm.map { inStrides[$0] }, shape: perm.map { shape[$0] },
                elementSize: elementSize, dst: dst)
}

/// Row-major element strides of a contiguous tensor.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// ONNX Slice with resolved per-axis `starts` (clamped, in range) and nonzero `steps`; `outShape` is the sliced
/// shape. Negative steps walk backwards.
public func slice(
    src: UnsafeRawPointer, shape: [Int], starts: [Int], steps: [Int], outShape: [Int], elementSize: Int,
    dst: UnsafeMutableRawPointer
) {
    precondition(starts.count == shape.count && steps.count == shape.count && outShape.count == shape.count,
                 "slice: rank mismatch")
    let inStrides = contiguousStrides(shape)
    var base = 0
    for i in 0..<shape.count where outShape[i] > 0 { base += starts[i] * inStrides[i] }
    stridedCopy(src: src + base * elementSize, srcStrides: (0..<shape.count).map { inStrides[$0] * steps[$0] },
                shape: outShape, elementSize: elementSize, dst: dst)
}

/// ONNX Expand (numpy broadcast of `shape` to `outShape`).
public func expand(
    src: UnsafeRawPointer, shape: [Int], outShape: [Int], elementSize: Int, dst: UnsafeMutableRawPointer
) {
    stridedCopy(src: src, srcStrides: broadcastStrides(shape: shape, to: outShape), shape: outShape,
                elementSize: elementSize, dst: dst)
}

/// ONNX Tile: output axis i is `repeats[i]` copies of input axis i, viewed as [repeats[i], shape[i]] with stride 0
/// on the repeat axis.
public func tile(
    src: UnsafeRawPointer, shape: [Int], repeats: [Int], elementSize: Int, dst: UnsafeMutableRawPointer
) {
    precondition(repeats.count == shape.count, "tile: rank mismatch")
    let inStrides = contiguousStrides(shape)
    var dims = [Int](), strides = [Int]()
    for i in 0..<shape.count {
        dims += [repeats[i], shape[i]]
        strides += [0, inStrides[i]]
    }
    stridedCopy(src: src, srcStrides: strides, shape: dims, elementSize: elementSize, dst: dst)
}
