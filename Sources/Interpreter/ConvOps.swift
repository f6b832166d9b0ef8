import IR
import Kernels

/// Convolutions: Conv and ConvTranspose over 1, 2 or 3 (any number of) spatial axes, computed in float32 (float16,
/// bfloat16 and double operands are converted, see `registerPromoting`).
///
/// Attributes (kernel_shape, strides, dilations, pads, auto_pad, group, output_padding, output_shape) are parsed by
/// the shared `ConvAttributes`, so output sizes agree with shape inference. 1-D runs on the 2-D kernels as H = 1;
/// 2-D uses `conv2d` (im2col + sgemm, depthwise and pointwise fast paths) and `convTranspose2d`; other spatial ranks
/// take a direct N-d loop (a reference path, not tuned).
func registerConvOps(_ r: inout OpRegistry) {
    r.registerPromoting("Conv") { ctx in [try convolution(ctx)] }
    r.markFusible("Conv")  // activation epilogues, see ElementwiseFusion
    r.registerPromoting("ConvTranspose") { ctx in [try transposedConvolution(ctx)] }
}

/// Per-axis geometry of a convolution after padding is resolved. `padBegin` may be negative for ConvTranspose
/// (SAME with an output larger than the natural one).
struct SpatialGeometry {
    var input: [Int]
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padBegin: [Int]
    var output: [Int]
}

/// A validated Conv node's shapes: batch, channels, output channels, group, resolved pads and geometry.
struct ConvolutionSetup {
    var batch: Int, channels: Int, outChannels: Int, group: Int
    var attributes: ConvAttributes
    /// Resolved pads, begins then ends.
    var pads: [Int]
    var geometry: SpatialGeometry
    var outputShape: [Int] { [batch, outChannels] + geometry.output }
}

/// Validates Conv-style shapes (x [N, C, spatial...], w [M, C/group, kernel...]) against the node's attributes.
func convolutionSetup(_ ctx: OpContext, x: [Int], w: [Int]) throws -> ConvolutionSetup {
    guard x.count >= 3 else { throw ctx.failure("input rank \(x.count) must be at least 3 (N, C, spatial...)") }
    guard w.count == x.count else { throw ctx.failure("weight rank \(w.count) does not match input rank \(x.count)") }
    let spatialRank = x.count - 2
    let attrs = try ConvAttributes(node: ctx.node, spatialRank: spatialRank, kernelShape: Array(w[2...]))
    let (c, m, group) = (x[1], w[0], attrs.group)
    guard c == w[1] * group else {
        throw ctx.failure("input has \(c) channels but weight \(w) with group \(group) expects \(w[1] * group)")
    }
    guard m % group == 0 else { throw ctx.failure("\(m) output channels are not divisible by group \(group)") }
    guard Array(w[2...]) == attrs.kernelShape else {
        throw ctx.failure("kernel_shape \(attrs.kernelShape) does not match weight \(w)")
    }
    let inSizes = Array(x[2...])
    let pads = attrs.resolvedPads(inputSizes: inSizes)
    var outSizes: [Int] = []
    for a in 0..<spatialRank {
        guard let o = attrs.outputSize(inputSize: inSizes[a], axis: a) else {
            throw ctx.failure("kernel \(attrs.kernelShape) (dilations \(attrs.dilations)) is larger than the padded input \(inSizes) along axis \(a + 2)")
        }
        outSizes.append(o)
    }
    let geometry = SpatialGeometry(input: inSizes, kernel: attrs.kernelShape, strides: attrs.strides,
                                   dilations: attrs.dilations, padBegin: Array(pads[..<spatialRank]), output: outSizes)
    return ConvolutionSetup(batch: x[0], channels: c, outChannels: m, group: group, attributes: attrs, pads: pads,
                            geometry: geometry)
}

private func convolution(_ ctx: OpContext) throws -> Tensor {
    try ctx.requireBLAS()
    let x = try ctx.floatInput(0, "Conv input"), w = try ctx.floatInput(1, "Conv weight")
    let setup = try convolutionSetup(ctx, x: x.shape, w: w.shape)
    let (n, c, m, group) = (setup.batch, setup.channels, setup.outChannels, setup.group)
    let (attrs, pads, geometry) = (setup.attributes, setup.pads, setup.geometry)
    let spatialRank = x.rank - 2
    let (inSizes, outSizes) = (geometry.input, geometry.output)
    let bias = ctx.optionalInput(2)
    if let bias {
        guard bias.elementType == .float, bias.elementCount == m, bias.rank == 1 else {
            throw ctx.failure("bias must be float32 [\(m)], got \(bias.elementType) \(bias.shape)")
        }
    }
    let y = try ctx.allocate(.float, [n, m] + outSizes)
    guard y.elementCount > 0 else { return y }
    let yp = y.mutableFloats
    // A following activation folded into this node by the fusion plan (its nodes then pass this output through).
    let activation = convEpilogue(ctx) ?? .identity
    if spatialRank <= 2 {
        // 1-D is a 2-D convolution with H = 1.
        let two = spatialRank == 2
        let p = Conv2DParams(
            batch: n, inChannels: c, inHeight: two ? inSizes[0] : 1, inWidth: inSizes[spatialRank - 1],
            outChannels: m, kernelHeight: two ? attrs.kernelShape[0] : 1, kernelWidth: attrs.kernelShape[spatialRank - 1],
            strides: (two ? attrs.strides[0] : 1, attrs.strides[spatialRank - 1]),
            dilations: (two ? attrs.dilations[0] : 1, attrs.dilations[spatialRank - 1]),
            pads: two ? (pads[0], pads[1], pads[2], pads[3]) : (0, pads[0], 0, pads[1]), groups: group)
        guard p.outHeight * p.outWidth == y.elementCount / (n * m) else {
            throw ctx.failure("internal: output size mismatch \(outSizes) vs \(p.outHeight)x\(p.outWidth)")
        }
        try x.withFloats { xp in
            try w.withFloats { wp in
                try withOptionalFloats(bias) { bp in
                    // Weights in a kernel-specific layout: packed once per constant weight, not on every run.
                    let packCount = packedConvWeightCount(p)
                    var packed: [Float]?
                    if packCount > 0, let weightValue = ctx.node.inputs[1] {
                        packed = PackedWeightCache.shared.packed(
                            weightValue, layout: [c, m, p.kernelHeight, p.kernelWidth], count: packCount,
                            in: ctx.interpreter) { packConvWeights(p, weight: wp, into: $0) }
                    }
                    try ctx.withScratch(conv2dWorkspaceCount(p)) { workspace in
                        withOptionalFloatArray(packed) { pw in
                            conv2d(p, x: xp, weight: wp, bias: bp, activation: activation, y: yp, workspace: workspace,
                                   packedWeights: pw)
                        }
                    }
                }
            }
        }
        return y
    }
    x.withFloats { xp in
        w.withFloats { wp in
            withOptionalFloats(bias) { bp in
                directConvolution(geometry, batch: n, channels: c, outChannels: m, group: group, x: xp, w: wp, bias: bp, y: yp)
            }
        }
    }
    if activation != .identity { unary(activation, x: yp, y: yp, count: y.elementCount) }
    return y
}

/// Calls `body` with the floats of `array`, or nil when it is absent.
private func withOptionalFloatArray<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// For every output position, the (tap, input offset) pairs that land inside the input: shared by all images and
/// channels of an N-d convolution; position p owns entries `start[p]..<start[p + 1]`.
struct TapTable {
    var tap: [Int] = []
    var inputOffset: [Int] = []
    var start: [Int] = [0]

    /// Indexed by output position: the taps and input offsets that position reads.
    init(_ g: SpatialGeometry) {
        let rank = g.input.count
        let inStrides = rowMajorStrides(g.input)
        let kernelCount = g.kernel.reduce(1, *)
        let outCount = g.output.reduce(1, *)
        guard outCount > 0, kernelCount > 0 else { return }
        var o = [Int](repeating: 0, count: rank)
        repeat {
            var k = [Int](repeating: 0, count: rank)
            var t = 0
            repeat {
                var offset = 0
                var inside = true
                for a in 0..<rank {
                    let i = o[a] * g.strides[a] - g.padBegin[a] + k[a] * g.dilations[a]
                    if i < 0 || i >= g.input[a] { inside = false; break }
                    offset += i * inStrides[a]
                }
                if inside {
                    tap.append(t)
                    inputOffset.append(offset)
                }
                t += 1
            } while advance(&k, g.kernel)
            start.append(tap.count)
        } while advance(&o, g.output)
    }
}

/// Conv over any spatial rank by direct summation (used for 3-D and up).
private func directConvolution(
    _ g: SpatialGeometry, batch: Int, channels: Int, outChannels: Int, group: Int,
    x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>
) {
    let table = TapTable(g)
    let inPlane = g.input.reduce(1, *), outPlane = g.output.reduce(1, *), kernelCount = g.kernel.reduce(1, *)
    let cg = channels / group, mg = outChannels / group
    for n in 0..<batch {
        for m in 0..<outChannels {
            let gi = m / mg
            let dst = y + (n * outChannels + m) * outPlane
            let b = bias?[m] ?? 0
            for position in 0..<outPlane {
                var acc: Float = 0
                let range = table.start[position]..<table.start[position + 1]
                for ci in 0..<cg {
                    let src = x + (n * channels + gi * cg + ci) * inPlane
                    let wk = w + (m * cg + ci) * kernelCount
                    for e in range { acc += src[table.inputOffset[e]] * wk[table.tap[e]] }
                }
                dst[position] = acc + b
            }
        }
    }
}

private func transposedConvolution(_ ctx: OpContext) throws -> Tensor {
    try ctx.requireBLAS()
    let x = try ctx.floatInput(0, "ConvTranspose input"), w = try ctx.floatInput(1, "ConvTranspose weight")
    guard x.rank >= 3 else { throw ctx.failure("input rank \(x.rank) must be at least 3 (N, C, spatial...)") }
    guard w.rank == x.rank else { throw ctx.failure("weight rank \(w.rank) does not match input rank \(x.rank)") }
    let spatialRank = x.rank - 2
    let attrs = try ConvAttributes(node: ctx.node, spatialRank: spatialRank, kernelShape: Array(w.shape[2...]))
    let (n, c, group) = (x.shape[0], x.shape[1], attrs.group)
    let m = w.shape[1] * group
    guard c == w.shape[0], c % group == 0 else {
        throw ctx.failure("input has \(c) channels but weight \(w.shape) expects \(w.shape[0]) (divisible by group \(group))")
    }
    guard Array(w.shape[2...]) == attrs.kernelShape else {
        throw ctx.failure("kernel_shape \(attrs.kernelShape) does not match weight \(w.shape)")
    }
    let bias = ctx.optionalInput(2)
    if let bias {
        guard bias.elementType == .float, bias.elementCount == m, bias.rank == 1 else {
            throw ctx.failure("bias must be float32 [\(m)], got \(bias.elementType) \(bias.shape)")
        }
    }
    if let bad = attrs.outputPadding.first(where: { $0 < 0 }) { throw ctx.failure("output_padding \(bad) is negative") }
    let inSizes = Array(x.shape[2...])
    var padBegin: [Int] = [], outSizes: [Int] = []
    for a in 0..<spatialRank {
        let (s, effective) = (attrs.strides[a], attrs.effectiveKernel(a))
        let natural = s * (inSizes[a] - 1) + attrs.outputPadding[a] + effective
        switch attrs.autoPad {
        case .sameUpper, .sameLower:
            let out = attrs.outputShape?[a] ?? inSizes[a] * s
            let total = natural - out
            // Floor division as the onnx reference does; SAME_UPPER puts the smaller half first.
            let half = Int((Double(total) / 2).rounded(.down))
            padBegin.append(attrs.autoPad == .sameUpper ? half : total - half)
            outSizes.append(out)
        case .valid:
            padBegin.append(0)
            outSizes.append(attrs.outputShape?[a] ?? natural)
        case .notSet:
            padBegin.append(attrs.pads[a])
            outSizes.append(attrs.outputShape?[a] ?? natural - attrs.pads[a] - attrs.pads[a + spatialRank])
        }
        guard outSizes[a] >= 0 else { throw ctx.failure("negative output size \(outSizes[a]) along axis \(a + 2)") }
    }
    let y = try ctx.allocate(.float, [n, m] + outSizes)
    guard y.elementCount > 0 else { return y }
    let yp = y.mutableFloats
    let geometry = SpatialGeometry(input: inSizes, kernel: attrs.kernelShape, strides: attrs.strides,
                                   dilations: attrs.dilations, padBegin: padBegin, output: outSizes)
    if spatialRank <= 2 {
        let two = spatialRank == 2
        let axisH = two ? 0 : -1, axisW = spatialRank - 1
        func value(_ array: [Int], _ axis: Int, _ fallback: Int) -> Int { axis >= 0 ? array[axis] : fallback }
        // The kernel's output extent is s·(in-1) + outputPadding + k_eff - padBegin - padEnd: express the requested
        // size through output padding (or end padding when it is smaller than the natural size).
        func extra(_ axis: Int) -> Int {
            guard axis >= 0 else { return 0 }
            return outSizes[axis] - (attrs.strides[axis] * (inSizes[axis] - 1) + attrs.effectiveKernel(axis) - padBegin[axis])
        }
        let (extraH, extraW) = (extra(axisH), extra(axisW))
        let p = ConvTranspose2DParams(
            batch: n, inChannels: c, inHeight: value(inSizes, axisH, 1), inWidth: inSizes[axisW], outChannels: m,
            kernelHeight: value(attrs.kernelShape, axisH, 1), kernelWidth: attrs.kernelShape[axisW],
            strides: (value(attrs.strides, axisH, 1), attrs.strides[axisW]),
            dilations: (value(attrs.dilations, axisH, 1), attrs.dilations[axisW]),
            pads: (value(padBegin, axisH, 0), padBegin[axisW], max(0, -extraH), max(0, -extraW)),
            outputPadding: (max(0, extraH), max(0, extraW)), groups: group)
        guard p.outHeight * p.outWidth == y.elementCount / (n * m) else {
            throw ctx.failure("internal: output size mismatch \(outSizes) vs \(p.outHeight)x\(p.outWidth)")
        }
        x.withFloats { xp in
            w.withFloats { wp in
                withOptionalFloats(bias) { bp in convTranspose2d(p, x: xp, weight: wp, bias: bp, y: yp) }
            }
        }
        return y
    }
    x.withFloats { xp in
        w.withFloats { wp in
            withOptionalFloats(bias) { bp in
                directTransposedConvolution(geometry, batch: n, channels: c, outChannels: m, group: group,
                                            x: xp, w: wp, bias: bp, y: yp)
            }
        }
    }
    return y
}

/// ConvTranspose over any spatial rank: every input element scatters `x · w` into the output positions it feeds.
private func directTransposedConvolution(
    _ g: SpatialGeometry, batch: Int, channels: Int, outChannels: Int, group: Int,
    x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>
) {
    // The scatter is the adjoint of a convolution whose "input" is our output: reuse TapTable with roles swapped,
    // indexing by our input position and listing the output offsets it reaches.
    let swapped = SpatialGeometry(input: g.output, kernel: g.kernel, strides: g.strides, dilations: g.dilations,
                                  padBegin: g.padBegin, output: g.input)
    let table = TapTable(swapped)
    let inPlane = g.input.reduce(1, *), outPlane = g.output.reduce(1, *), kernelCount = g.kernel.reduce(1, *)
    let cg = channels / group, mg = outChannels / group
    for n in 0..<batch {
        for m in 0..<outChannels {
            (y + (n * outChannels + m) * outPlane).update(repeating: bias?[m] ?? 0, count: outPlane)
        }
        for ci in 0..<channels {
            let gi = ci / cg
            let src = x + (n * channels + ci) * inPlane
            for mi in 0..<mg {
                let m = gi * mg + mi
                let dst = y + (n * outChannels + m) * outPlane
                let wk = w + (ci * mg + mi) * kernelCount
                for position in 0..<inPlane {
                    let v = src[position]
                    for e in table.start[position]..<table.start[position + 1] {
                        dst[table.inputOffset[e]] += v * wk[table.tap[e]]
                    }
                }
            }
        }
    }
}
