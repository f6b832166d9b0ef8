import CKernels

/// Depthwise 2-D convolution (groups == C == M): one kH×kW filter per channel, weight layout [C, 1, kH, kW].
///
/// Each (image, channel) plane is copied into a zero-bordered scratch plane, so the inner loops have no bounds
/// checks; `mcc_depthwise_plane` (Sources/CKernels, AVX2/AVX-512 variants) computes output rows 16 or 32 columns at a
/// time with all taps accumulated in registers, unrolled for 3×3 and 5×5 with stride 1 or 2.
/// Planes are distributed over `KernelConfig.threads`, each thread with its own scratch plane from `workspace`
/// (`depthwiseWorkspaceCount(p)` floats; nil allocates it here).
public func depthwiseConv2d(
    _ p: Conv2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    activation: UnaryOp = .identity, y: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>? = nil
) {
    p.validate()
    precondition(p.isDepthwise || (p.groups == 1 && p.inChannels == 1 && p.outChannels == 1),
                 "depthwiseConv2d: needs groups == C == M")
    let oh = p.outHeight, ow = p.outWidth
    guard oh > 0, ow > 0 else { return }
    let h = p.inHeight, w = p.inWidth, c = p.inChannels
    let wp = w + p.padLeft + p.padRight
    let planeCount = depthwisePlaneCount(p)
    let planes = p.batch * c
    let slots = depthwiseSlots(p)
    let owned: UnsafeMutablePointer<Float>? = workspace == nil ? .allocate(capacity: slots * planeCount) : nil
    defer { owned?.deallocate() }
    guard let scratch = workspace ?? owned else { return }
    // The same contiguous plane ranges `parallelFor(planes, minChunk:)` would make, one scratch plane per range.
    parallelFor(slots) { slotRange in
        for slot in slotRange {
            let padded = scratch + slot * planeCount
            // Zero borders (the interior is overwritten per plane); the buffer may hold another conv's data.
            padded.initialize(repeating: 0, count: planeCount)
            for plane in (planes * slot / slots)..<(planes * (slot + 1) / slots) {
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
}

/// Floats of one zero-bordered scratch plane, with slack past it so the last (partial) vector may over-read:
/// 2 vectors per stride step plus the kernel.
func depthwisePlaneCount(_ p: Conv2DParams) -> Int {
    let hp = p.inHeight + p.padTop + p.padBottom, wp = p.inWidth + p.padLeft + p.padRight
    return hp * wp + 32 * (p.strideW + 1) + p.kernelWidth * p.dilationW
}

/// Plane ranges run in parallel: up to `KernelConfig.threads`, each worth ≥ 32 K multiply-adds.
func depthwiseSlots(_ p: Conv2DParams) -> Int {
    let planes = p.batch * p.inChannels
    let work = p.outHeight * p.outWidth * p.kernelHeight * p.kernelWidth
    guard planes > 0, work > 0 else { return 1 }
    return min(KernelConfig.threads, max(1, planes / max(1, 32_768 / max(1, work))))
}

/// Floats of workspace `depthwiseConv2d` uses: one scratch plane per parallel range.
public func depthwiseWorkspaceCount(_ p: Conv2DParams) -> Int { depthwiseSlots(p) * depthwisePlaneCount(p) }

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
