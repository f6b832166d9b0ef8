import IR

/// DeformConv (2-D): a grouped convolution whose taps are displaced per output position by learned offsets
/// (offset [N, offset_group·kH·kW·2, oH, oW], (dy, dx) per tap) and optionally scaled by a mask
/// ([N, offset_group·kH·kW, oH, oW]). Displaced taps read X bilinearly, corners outside the image count as 0.
/// Input channels are split evenly over offset groups. Computed directly (reference path).
func registerDeformConvOps(_ r: inout OpRegistry) {
    r.registerPromoting("DeformConv") { ctx in [try deformableConvolution(ctx)] }
}

private func deformableConvolution(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "X"), w = try ctx.floatInput(1, "W"), offset = try ctx.floatInput(2, "offset")
    guard x.rank == 4 else { throw ctx.unsupported("DeformConv with \(x.rank - 2) spatial axes (only 2-D)") }
    let setup = try convolutionSetup(ctx, x: x.shape, w: w.shape)
    let (n, c, m, group) = (setup.batch, setup.channels, setup.outChannels, setup.group)
    let g = setup.geometry
    let (h, wd, kh, kw, oh, ow) = (g.input[0], g.input[1], g.kernel[0], g.kernel[1], g.output[0], g.output[1])
    let offsetGroups = ctx.int("offset_group", default: 1)
    guard offsetGroups > 0, c % offsetGroups == 0 else { throw ctx.failure("offset_group \(offsetGroups) must divide \(c) channels") }
    let taps = kh * kw
    guard offset.shape == [n, offsetGroups * taps * 2, oh, ow] else {
        throw ctx.failure("offset \(offset.shape) must be [\(n), \(offsetGroups * taps * 2), \(oh), \(ow)]")
    }
    let bias = ctx.optionalInput(3)
    if let bias, bias.elementCount != m || bias.elementType != .float { throw ctx.failure("B must be float [\(m)]") }
    let mask = ctx.optionalInput(4)
    if let mask, mask.shape != [n, offsetGroups * taps, oh, ow] || mask.elementType != .float {
        throw ctx.failure("mask \(mask.shape) must be [\(n), \(offsetGroups * taps), \(oh), \(ow)]")
    }
    let xs = x.floatValues(), ws = w.floatValues(), offsets = offset.floatValues()
    let masks = mask?.floatValues(), biases = bias?.floatValues()
    let (cg, mg, perOffsetGroup) = (c / group, m / group, c / offsetGroups)
    let plane = oh * ow
    // Sampled input columns: [N, C, taps, oH·oW].
    var columns = [Float](repeating: 0, count: n * c * taps * plane)
    for img in 0..<n {
        for ch in 0..<c {
            let og = ch / perOffsetGroup
            let source = (img * c + ch) * h * wd
            for t in 0..<taps {
                let (i, j) = (t / kw, t % kw)
                let dyIndex = ((img * offsetGroups + og) * taps + t) * 2
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let position = oy * ow + ox
                        let y = Float(oy * g.strides[0] - g.padBegin[0] + i * g.dilations[0]) + offsets[dyIndex * plane + position]
                        let xx = Float(ox * g.strides[1] - g.padBegin[1] + j * g.dilations[1]) + offsets[(dyIndex + 1) * plane + position]
                        var v = bilinear(xs, source, h, wd, y, xx)
                        if let masks { v *= masks[((img * offsetGroups + og) * taps + t) * plane + position] }
                        columns[((img * c + ch) * taps + t) * plane + position] = v
                    }
                }
            }
        }
    }
    var result = [Float](repeating: 0, count: n * m * plane)
    for img in 0..<n {
        for oc in 0..<m {
            let gi = oc / mg
            for position in 0..<plane {
                var s = biases?[oc] ?? 0
                for ci in 0..<cg {
                    let ch = gi * cg + ci
                    for t in 0..<taps {
                        s += ws[(oc * cg + ci) * taps + t] * columns[((img * c + ch) * taps + t) * plane + position]
                    }
                }
                result[(img * m + oc) * plane + position] = s
            }
        }
    }
    return Tensor(floats: result, shape: [n, m, oh, ow])
}

/// Bilinear sample of the plane at `base` (h × w); corners outside the plane contribute 0.
private func bilinear(_ x: [Float], _ base: Int, _ h: Int, _ w: Int, _ y: Float, _ xx: Float) -> Float {
    guard y.isFinite, xx.isFinite, y > -1, y < Float(h), xx > -1, xx < Float(w) else { return 0 }
    let y0 = Int(y.rounded(.down)), x0 = Int(xx.rounded(.down))
    let (ly, lx) = (y - Float(y0), xx - Float(x0))
    var s: Float = 0
    for (dy, wy) in [(0, 1 - ly), (1, ly)] {
        for (dx, wx) in [(0, 1 - lx), (1, lx)] {
            let (r, c) = (y0 + dy, x0 + dx)
            if r >= 0, r < h, c >= 0, c < w { s += wy * wx * x[base + r * w + c] }
        }
    }
    return s
}
