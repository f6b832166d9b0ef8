/// Shape and attributes of 2-D pooling (ONNX MaxPool / AveragePool). 1-D pooling is H = 1, kernelH = 1.
///
/// Layout: input [N, C, H, W], output [N, C, outH, outW]. The output size is the caller's (it applies ceil_mode, see
/// `poolOutputSize`); windows that run past the padded input are clipped here. Pads are (top, left, bottom, right).
public struct Pool2DParams: Sendable, Equatable {
    public var batch: Int
    public var channels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var outHeight: Int
    public var outWidth: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideH = 1, strideW = 1
    public var dilationH = 1, dilationW = 1
    public var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0

    public init(
        batch: Int, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int,
        kernelHeight: Int, kernelWidth: Int, strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
        pads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0)
    ) {
        self.batch = batch
        self.channels = channels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outHeight = outHeight
        self.outWidth = outWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        (strideH, strideW) = strides
        (dilationH, dilationW) = dilations
        (padTop, padLeft, padBottom, padRight) = pads
    }
}

/// ONNX pooling output size along one axis. With `ceilMode`, a last window that would start inside the right
/// padding is dropped (PyTorch/ONNX rule).
public func poolOutputSize(
    input: Int, kernel: Int, stride: Int, padBegin: Int, padEnd: Int, dilation: Int = 1, ceilMode: Bool
) -> Int {
    let span = input + padBegin + padEnd - dilation * (kernel - 1) - 1
    if span < 0 { return 0 }
    var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
    if ceilMode && (out - 1) * stride >= input + padBegin { out -= 1 }
    return out
}

/// Pooling reduction kinds.
public enum PoolKind: Sendable, Equatable {
    /// Maximum over in-image taps; padding never wins. An empty window yields -Float.greatestFiniteMagnitude (ORT).
    case max
    /// Mean over in-image taps, or with `countIncludePad` over taps inside the padded input.
    case average(countIncludePad: Bool)
}

/// MaxPool / AveragePool over NCHW planes, parallel over (n, c) planes. Per output row/column the valid tap ranges
/// are computed once, so the inner loops have no bounds checks.
public func pool2d(_ kind: PoolKind, _ p: Pool2DParams, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    precondition(p.strideH > 0 && p.strideW > 0 && p.dilationH > 0 && p.dilationW > 0, "pool2d: bad stride")
    let oh = p.outHeight, ow = p.outWidth, h = p.inHeight, w = p.inWidth
    guard oh > 0, ow > 0 else { return }
    // Per output column: first valid tap, valid tap count, and the padded-window tap count for count_include_pad.
    var colStart = [Int](repeating: 0, count: ow), colTaps = [Int](repeating: 0, count: ow)
    var colPadTaps = [Int](repeating: 0, count: ow)
    for ox in 0..<ow {
        (colStart[ox], colTaps[ox], colPadTaps[ox]) = windowTaps(
            start: ox * p.strideW - p.padLeft, kernel: p.kernelWidth, dilation: p.dilationW,
            size: w, padBegin: p.padLeft, padEnd: p.padRight)
    }
    let planes = p.batch * p.channels
    if p.strideW <= 2 {
        pool2dPadded(kind, p, x: x, y: y, colPadTaps: colPadTaps, colTaps: colTaps)
        return
    }
    colStart.withUnsafeBufferPointer { cs in
        colTaps.withUnsafeBufferPointer { ct in
            colPadTaps.withUnsafeBufferPointer { cp in
                parallelFor(planes, minChunk: max(1, 16_384 / max(1, oh * ow * p.kernelHeight * p.kernelWidth))) {
                    range in
                    for plane in range {
                        poolPlane(kind, p, x + plane * h * w, y + plane * oh * ow, cs, ct, cp)
                    }
                }
            }
        }
    }
}

/// For a window starting at `start` (may be negative): first in-image tap index, number of in-image taps, and number
/// of taps inside [-padBegin, size + padEnd).
@inline(__always)
func windowTaps(start: Int, kernel: Int, dilation: Int, size: Int, padBegin: Int, padEnd: Int) -> (Int, Int, Int) {
    let (lo, hi) = validRange(offset: start, stride: dilation, size: size, count: kernel)
    let (plo, phi) = validRange(offset: start + padBegin, stride: dilation, size: size + padBegin + padEnd,
                                count: kernel)
    return (lo, hi - lo, phi - plo)
}

@inline(__always)
func poolPlane(
    _ kind: PoolKind, _ p: Pool2DParams, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
    _ colStart: UnsafeBufferPointer<Int>, _ colTaps: UnsafeBufferPointer<Int>, _ colPadTaps: UnsafeBufferPointer<Int>
) {
    let w = p.inWidth, ow = p.outWidth
    let dW = p.dilationW
    for oy in 0..<p.outHeight {
        let (r0, rows, padRows) = windowTaps(
            start: oy * p.strideH - p.padTop, kernel: p.kernelHeight, dilation: p.dilationH,
            size: p.inHeight, padBegin: p.padTop, padEnd: p.padBottom)
        let rowBase = src + (oy * p.strideH - p.padTop + r0 * p.dilationH) * w
        let rowStep = p.dilationH * w
        let out = dst + oy * ow
        switch kind {
        case .max:
            for ox in 0..<ow {
                var m = -Float.greatestFiniteMagnitude
                let taps = colTaps[ox]
                let c = rowBase + (ox * p.strideW - p.padLeft + colStart[ox] * dW)
                for r in 0..<rows {
                    let rp = c + r * rowStep
                    for t in 0..<taps { m = max(m, rp[t * dW]) }
                }
                out[ox] = m
            }
        case .average(let includePad):
            for ox in 0..<ow {
                var s: Float = 0
                let taps = colTaps[ox]
                let c = rowBase + (ox * p.strideW - p.padLeft + colStart[ox] * dW)
                for r in 0..<rows {
                    let rp = c + r * rowStep
                    for t in 0..<taps { s += rp[t * dW] }
                }
                let count = includePad ? padRows * colPadTaps[ox] : rows * taps
                out[ox] = count > 0 ? s / Float(count) : 0
            }
        }
    }
}

/// GlobalAveragePool / GlobalMaxPool: one value per (n, c) plane of `spatial` contiguous floats.
public func globalPool(
    _ kind: PoolKind, planes: Int, spatial: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
) {
    guard planes > 0 else { return }
    guard spatial > 0 else {
        // Empty planes: mean is NaN (0/0) as in numpy; max has no identity, use the MaxPool convention.
        y.update(repeating: kind == .max ? -Float.greatestFiniteMagnitude : .nan, count: planes)
        return
    }
    parallelFor(planes, minChunk: max(1, 32_768 / spatial)) { range in
        for plane in range {
            let src = x + plane * spatial
            switch kind {
            case .max: y[plane] = vectorExtreme(src, spatial, minimum: false)
            case .average: y[plane] = vectorSum(src, spatial) / Float(spatial)
            }
        }
    }
}

/// Vectorised pooling for stride-1/2 rows: each plane is copied into a bordered scratch plane (−inf for max, 0 for
/// average, large enough for ceil-mode windows), so 16 outputs are reduced at once with no bounds checks; averages
/// multiply by a precomputed 1/(rowCount·colCount).
func pool2dPadded(_ kind: PoolKind, _ p: Pool2DParams, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                  colPadTaps: [Int], colTaps: [Int]) {
    let oh = p.outHeight, ow = p.outWidth, h = p.inHeight, w = p.inWidth
    let hp = max(p.padTop + h, (oh - 1) * p.strideH + (p.kernelHeight - 1) * p.dilationH + 1)
    let wp = max(p.padLeft + w, (ow - 1) * p.strideW + (p.kernelWidth - 1) * p.dilationW + 1)
    let slack = 32 * (p.strideW + 1) + p.kernelWidth * p.dilationW
    let isMax = kind == .max
    let includePad = kind == .average(countIncludePad: true)
    let fill: Float = isMax ? -.infinity : 0
    // Per-row and per-column divisor factors (taps are separable, so count = rows × cols).
    var rowFactor = [Float](repeating: 0, count: oh)
    for oy in 0..<oh {
        let (_, rows, padRows) = windowTaps(start: oy * p.strideH - p.padTop, kernel: p.kernelHeight,
                                            dilation: p.dilationH, size: h, padBegin: p.padTop, padEnd: p.padBottom)
        rowFactor[oy] = Float(includePad ? padRows : rows)
    }
    let colFactor = (0..<ow).map { Float(includePad ? colPadTaps[$0] : colTaps[$0]) }
    parallelFor(p.batch * p.channels, minChunk: max(1, 16_384 / max(1, oh * ow * p.kernelHeight * p.kernelWidth))) {
        range in
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: hp * wp + slack)
        defer { padded.deallocate() }
        padded.initialize(repeating: fill, count: hp * wp + slack)
        for plane in range {
            let src = x + plane * h * w
            for r in 0..<h { (padded + (r + p.padTop) * wp + p.padLeft).update(from: src + r * w, count: w) }
            let dst = y + plane * oh * ow
            colFactor.withUnsafeBufferPointer { cf in
                rowFactor.withUnsafeBufferPointer { rf in
                    let k = (p.kernelHeight, p.kernelWidth), st = (p.strideH, p.strideW)
                    let unit = p.dilationH == 1 && p.dilationW == 1
                    // Literal sizes let the optimiser unroll the tap loops (as for depthwise convolution).
                    if unit && k == (3, 3) && st == (2, 2) {
                        poolRows(isMax, padded, wp, dst, oh, ow, rf, cf, 3, 3, 2, 2, 1, 1)
                    } else if unit && k == (2, 2) && st == (2, 2) {
                        poolRows(isMax, padded, wp, dst, oh, ow, rf, cf, 2, 2, 2, 2, 1, 1)
                    } else if unit && k == (3, 3) && st == (1, 1) {
                        poolRows(isMax, padded, wp, dst, oh, ow, rf, cf, 3, 3, 1, 1, 1, 1)
                    } else if unit && k == (5, 5) && st == (1, 1) {
                        poolRows(isMax, padded, wp, dst, oh, ow, rf, cf, 5, 5, 1, 1, 1, 1)
                    } else {
                        poolRows(isMax, padded, wp, dst, oh, ow, rf, cf, k.0, k.1, st.0, st.1,
                                 p.dilationH, p.dilationW)
                    }
                }
            }
        }
    }
}

@inline(__always)
func poolRows(
    _ isMax: Bool, _ padded: UnsafePointer<Float>, _ wp: Int, _ dst: UnsafeMutablePointer<Float>, _ oh: Int,
    _ ow: Int, _ rowFactor: UnsafeBufferPointer<Float>, _ colFactor: UnsafeBufferPointer<Float>,
    _ kh: Int, _ kw: Int, _ sh: Int, _ sw: Int, _ dh: Int, _ dw: Int
) {
    let width = FloatVector.scalarCount
    let fill: Float = isMax ? -.infinity : 0
    for oy in 0..<oh {
        let base = padded + oy * sh * wp
        let out = dst + oy * ow
        var ox = 0
        while ox < ow {
            var acc = FloatVector(repeating: fill)
            for i in 0..<kh {
                let r = base + i * dh * wp + ox * sw
                for j in 0..<kw {
                    let v = loadStrided(r + j * dw, sw)
                    acc = isMax ? acc.replacing(with: v, where: v .> acc) : acc + v
                }
            }
            if isMax {
                acc.replace(with: -.greatestFiniteMagnitude, where: acc .== -.infinity)
            } else {
                var count = FloatVector(repeating: 1)
                let rf = rowFactor[oy]
                for l in 0..<min(width, ow - ox) { count[l] = rf * colFactor[ox + l] }
                acc = (acc / count).replacing(with: 0, where: count .== 0)
            }
            if ox + width <= ow {
                UnsafeMutableRawPointer(out + ox).storeBytes(of: acc, as: FloatVector.self)
            } else {
                for l in 0..<(ow - ox) { out[ox + l] = acc[l] }
            }
            ox += width
        }
    }
}
