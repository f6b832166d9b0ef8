import CKernels

/// Depthwise 2-D convolution (groups == C == M): one kH×kW filter per channel, weight layout [C, 1, kH, kW].
///
/// Each (image, channel) plane is copied into a zero-bordered scratch plane, so the inner loops have no bounds
/// checks; `mcc_depthwise_plane` (Sources/CKernels, AVX2/AVX-512 variants) computes output rows 16 or 32 columns at a
/// time with all taps accumulated in registers, unrolled for 3×3 and 5×5 with stride 1 or 2.
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
            // The activation runs inside the C kernel, on each output row while it is in cache, when C has it.
            let fused = activation.cActivation ?? (Int32(MCC_ACT_IDENTITY), 0, 0)
            mcc_depthwise_plane(padded, wp, wk, p.kernelHeight, p.kernelWidth, p.strideH, p.strideW, p.dilationH,
                                p.dilationW, oh, ow, b, fused.code, fused.a, fused.b, dst)
            if activation != .identity && activation.cActivation == nil { unarySerial(activation, dst, dst, oh * ow) }
        }
    }
}

/// Loads 16 values `stride` apart starting at `p` (pooling's strided windows).
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
