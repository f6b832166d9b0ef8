/// MaxPool for undilated 2-D windows, computed separably: per output row, the elementwise maximum of the window's
/// input rows (SIMD across the whole row), then the maximum over each output column's taps of that row. Far fewer
/// scalar comparisons than visiting every tap, and the row pass vectorises. Windows clipped by padding or ceil mode
/// only visit in-image rows/columns; a window with no in-image tap yields -Float.greatestFiniteMagnitude, as
/// `pool2d` does. Parallel over (n, c) planes.
public func separableMaxPool2d(_ p: Pool2DParams, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    precondition(p.strideH > 0 && p.strideW > 0 && p.dilationH == 1 && p.dilationW == 1,
                 "separableMaxPool2d: needs positive strides and no dilation")
    let (h, w, oh, ow) = (p.inHeight, p.inWidth, p.outHeight, p.outWidth)
    guard oh > 0, ow > 0 else { return }
    let planes = p.batch * p.channels
    parallelFor(planes, minChunk: max(1, 16_384 / max(1, h * w))) { range in
        let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: max(w, 1))
        defer { rowMax.deallocate() }
        for plane in range {
            let src = x + plane * h * w
            let dst = y + plane * oh * ow
            for oy in 0..<oh {
                let top = oy * p.strideH - p.padTop
                let lo = max(top, 0), hi = min(top + p.kernelHeight, h)
                let out = dst + oy * ow
                guard lo < hi, w > 0 else {
                    out.update(repeating: -Float.greatestFiniteMagnitude, count: ow)
                    continue
                }
                rowMax.update(from: src + lo * w, count: w)
                for r in (lo + 1)..<hi { elementwiseMax(rowMax, src + r * w, w) }
                for ox in 0..<ow {
                    let left = ox * p.strideW - p.padLeft
                    let a = max(left, 0), b = min(left + p.kernelWidth, w)
                    // Full interior windows of width 2 and 3 (the common pools) without a loop-carried branch.
                    if a == left && b - a == 3 {
                        let (u, v, t) = (rowMax[a], rowMax[a + 1], rowMax[a + 2])
                        let uv = v > u ? v : u
                        out[ox] = t > uv ? t : uv
                        continue
                    }
                    if a == left && b - a == 2 {
                        let (u, v) = (rowMax[a], rowMax[a + 1])
                        out[ox] = v > u ? v : u
                        continue
                    }
                    var m = -Float.greatestFiniteMagnitude
                    var c = a
                    while c < b {
                        let v = rowMax[c]
                        m = v > m ? v : m
                        c += 1
                    }
                    out[ox] = m
                }
            }
        }
    }
}

/// `acc[i] = max(acc[i], row[i])` for `n` floats (a plain loop: LLVM vectorises it to maxps).
@inline(__always)
private func elementwiseMax(_ acc: UnsafeMutablePointer<Float>, _ row: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n {
        let (a, b) = (acc[i], row[i])
        acc[i] = b > a ? b : a
    }
}
