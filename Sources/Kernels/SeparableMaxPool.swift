import CKernels

/// MaxPool for undilated 2-D windows, computed separably by `mcc_max_pool` (Sources/CKernels/maxpool.c, AVX2/AVX-512
/// variants): per output row, the lane-wise maximum of the window's input rows, then the maximum over each output
/// column's taps of that row, vectorised across output columns for interior windows. Windows clipped by padding or
/// ceil mode only visit in-image rows/columns; a window with no in-image tap yields -Float.greatestFiniteMagnitude,
/// as `pool2d` does. Parallel over (n, c) planes.
public func separableMaxPool2d(_ p: Pool2DParams, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    precondition(p.strideH > 0 && p.strideW > 0 && p.dilationH == 1 && p.dilationW == 1,
                 "separableMaxPool2d: needs positive strides and no dilation")
    let (h, w, oh, ow) = (p.inHeight, p.inWidth, p.outHeight, p.outWidth)
    guard oh > 0, ow > 0 else { return }
    let planes = p.batch * p.channels
    let scratch = mcc_max_pool_scratch_count(w, p.kernelWidth, p.strideW)
    parallelFor(planes, minChunk: max(1, 16_384 / max(1, h * w))) { range in
        let row = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
        defer { row.deallocate() }
        mcc_max_pool(x + range.lowerBound * h * w, range.count, h, w, oh, ow, p.kernelHeight, p.kernelWidth,
                     p.strideH, p.strideW, p.padTop, p.padLeft, y + range.lowerBound * oh * ow, row)
    }
}
