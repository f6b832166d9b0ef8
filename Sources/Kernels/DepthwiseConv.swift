/// Depthwise 2-D convolution (groups == C == M): one kH×kW filter per channel, weight layout [C, 1, kH, kW].
///
/// Each (image, channel) plane is copied into a zero-bordered scratch plane, so the inner loops have no bounds
/// checks; output rows are computed 16 columns at a time with all taps accumulated in registers. 3×3 and 5×5 with
/// stride 1 or 2 get loops the optimiser fully unrolls; everything else takes the same code with runtime bounds.
/// Planes are distributed over `KernelConfig.threads`.
public func depthwiseConv2d(
    _ p: Conv2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    activation: UnaryOp = .identity, y: UnsafeMutablePointer<Float>
) {
    p.validate()
    precondition(p.isDepthwise || (p.groups == 1 && p.inChannels == 1 && p.outChannels == 1),
                 "depthwiseConv2d: needs groups == C == M")
    let oh = p.outHeight, ow = p.outWidth
    guard oh > 0, ow > 0 else { return }
    let h = p.inHeight, w = p.inWidth, c = p.inChannels
    let hp = h + p.padTop + p.padBottom, wp = w + p.padLeft + p.padRight
    // Slack past the plane so the last (partial) vector may over-read: 2 vectors per stride step plus the kernel.
    let slack = 32 * (p.strideW + 1) + p.kernelWidth * p.dilationW
    let planes = p.batch * c
    let work = oh * ow * p.kernelHeight * p.kernelWidth
    parallelFor(planes, minChunk: max(1, 32_768 / max(1, work))) { range in
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: hp * wp + slack)
        defer { padded.deallocate() }
        padded.initialize(repeating: 0, count: hp * wp + slack)
        for plane in range {
            let ch = plane % c
            let src = x + plane * h * w
            for r in 0..<h {
                (padded + (r + p.padTop) * wp + p.padLeft).update(from: src + r * w, count: w)
            }
            let dst = y + plane * oh * ow
            let b = bias?[ch] ?? 0
            let wk = weight + ch * p.kernelHeight * p.kernelWidth
            let (k, s) = ((p.kernelHeight, p.kernelWidth), (p.strideH, p.strideW))
            let unitDilation = p.dilationH == 1 && p.dilationW == 1
            if unitDilation && k == (3, 3) && s == (1, 1) {
                depthwisePlane(padded, wp, wk, 3, 3, 1, 1, 1, 1, oh, ow, b, dst)
            } else if unitDilation && k == (3, 3) && s == (2, 2) {
                depthwisePlane(padded, wp, wk, 3, 3, 2, 2, 1, 1, oh, ow, b, dst)
            } else if unitDilation && k == (5, 5) && s == (1, 1) {
                depthwisePlane(padded, wp, wk, 5, 5, 1, 1, 1, 1, oh, ow, b, dst)
            } else if unitDilation && k == (5, 5) && s == (2, 2) {
                depthwisePlane(padded, wp, wk, 5, 5, 2, 2, 1, 1, oh, ow, b, dst)
            } else {
                depthwisePlane(padded, wp, wk, k.0, k.1, s.0, s.1, p.dilationH, p.dilationW, oh, ow, b, dst)
            }
            if activation != .identity { unarySerial(activation, dst, dst, oh * ow) }
        }
    }
}

/// Loads 16 values `stride` apart starting at `p`.
@inline(__always)
func loadStrided(_ p: UnsafePointer<Float>, _ stride: Int) -> FloatVector {
    let raw = UnsafeRawPointer(p)
    switch stride {
    case 1:
        return raw.loadUnaligned(as: FloatVector.self)
    case 2:
        return raw.loadUnaligned(as: SIMD32<Float>.self).evenHalf
    default:
        var v = FloatVector()
        for l in 0..<FloatVector.scalarCount { v[l] = p[l * stride] }
        return v
    }
}

/// One output plane from a zero-padded input plane with row stride `wp`. Always inlined so literal kernel sizes
/// and strides turn the tap loops into straight-line code.
@inline(__always)
func depthwisePlane(
    _ src: UnsafePointer<Float>, _ wp: Int, _ wk: UnsafePointer<Float>, _ kh: Int, _ kw: Int,
    _ sh: Int, _ sw: Int, _ dh: Int, _ dw: Int, _ oh: Int, _ ow: Int, _ bias: Float,
    _ dst: UnsafeMutablePointer<Float>
) {
    let width = FloatVector.scalarCount
    for oy in 0..<oh {
        let rowBase = src + oy * sh * wp
        let out = dst + oy * ow
        var ox = 0
        while ox < ow {
            var acc = FloatVector(repeating: bias)
            for i in 0..<kh {
                let r = rowBase + i * dh * wp + ox * sw
                for j in 0..<kw {
                    acc += wk[i * kw + j] * loadStrided(r + j * dw, sw)
                }
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
