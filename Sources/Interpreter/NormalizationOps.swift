import Foundation
import IR
import Kernels

/// Normalisation ops on float32, channels on axis 1 where that applies:
/// - BatchNormalization: inference `(x - mean)/sqrt(var + eps)·scale + B`; with training_mode = 1 the batch
///   statistics (biased variance over N and spatial axes) are used and running_mean/running_var are returned as
///   `running·momentum + batch·(1 - momentum)`.
/// - InstanceNormalization: per (n, c) plane. GroupNormalization: per (n, group), then per-channel scale/bias
///   (opset 21) or per-group (opset 18, scale of length num_groups).
/// - LayerNormalization: over axes [axis, rank), with optional Mean and InvStdDev outputs (reduced axes kept as 1).
/// - LpNormalization (p = 1 or 2 along `axis`; a zero norm gives 0), LRN (across channels, window
///   [c - ⌊(size-1)/2⌋, c + ⌈(size-1)/2⌉]), MeanVarianceNormalization (`(x - mean)/(sqrt(var) + 1e-9)` over `axes`).
func registerNormalizationOps(_ r: inout OpRegistry) {
    r.registerPromoting("BatchNormalization") { ctx in try batchNormalization(ctx) }
    r.registerPromoting("InstanceNormalization") { ctx in [try instanceNormalization(ctx)] }
    r.registerPromoting("GroupNormalization") { ctx in [try groupNormalization(ctx)] }
    r.registerPromoting("LayerNormalization") { ctx in try layerNormalization(ctx) }
    r.registerPromoting("LpNormalization") { ctx in [try lpNormalization(ctx)] }
    r.registerPromoting("LRN") { ctx in [try localResponseNormalization(ctx)] }
    r.registerPromoting("MeanVarianceNormalization") { ctx in [try meanVarianceNormalization(ctx)] }
}

/// A float32 parameter tensor of exactly `count` elements.
private func parameter(_ ctx: OpContext, _ index: Int, _ role: String, count: Int) throws -> Tensor {
    let t = try ctx.floatInput(index, role)
    guard t.elementCount == count else { throw ctx.failure("\(role) \(t.shape) must have \(count) elements") }
    return t
}

private func batchNormalization(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.floatInput(0, "input")
    guard x.rank >= 2 else { throw ctx.failure("input rank \(x.rank) must be at least 2") }
    if ctx.opset < 9, ctx.int("spatial", default: 1) == 0 {
        throw ctx.unsupported("spatial = 0 (per-activation statistics)")
    }
    let (n, c) = (x.shape[0], x.shape[1])
    let spatial = x.shape[2...].reduce(1, *)
    let scale = try parameter(ctx, 1, "scale", count: c), bias = try parameter(ctx, 2, "B", count: c)
    let mean = try parameter(ctx, 3, "mean", count: c), variance = try parameter(ctx, 4, "var", count: c)
    let epsilon = ctx.float("epsilon", default: 1e-5)
    let training = ctx.opset >= 14 && ctx.int("training_mode", default: 0) != 0
    let y = try ctx.allocate(.float, x.shape)
    guard training else {
        guard y.elementCount > 0 else { return [y] }
        x.withFloats { xp in
            scale.withFloats { sp in
                bias.withFloats { bp in
                    mean.withFloats { mp in
                        variance.withFloats { vp in
                            Kernels.batchNormalization(x: xp, y: y.mutableFloats, batch: n, channels: c, spatial: spatial,
                                                       scale: sp, bias: bp, mean: mp, variance: vp, epsilon: epsilon)
                        }
                    }
                }
            }
        }
        return [y]
    }
    let momentum = ctx.float("momentum", default: 0.9)
    let values = x.floatValues()
    var batchMean = [Float](repeating: 0, count: c), batchVariance = batchMean
    let count = Double(n * spatial)
    for ch in 0..<c {
        var sum = 0.0
        for image in 0..<n { for i in 0..<spatial { sum += Double(values[(image * c + ch) * spatial + i]) } }
        let m = sum / count
        var squares = 0.0
        for image in 0..<n {
            for i in 0..<spatial {
                let d = Double(values[(image * c + ch) * spatial + i]) - m
                squares += d * d
            }
        }
        batchMean[ch] = Float(m)
        batchVariance[ch] = Float(squares / count)
    }
    let (s, b) = (scale.floatValues(), bias.floatValues())
    let out = y.mutableFloats
    for image in 0..<n {
        for ch in 0..<c {
            let a = s[ch] / (batchVariance[ch] + epsilon).squareRoot()
            for i in 0..<spatial {
                let k = (image * c + ch) * spatial + i
                out[k] = (values[k] - batchMean[ch]) * a + b[ch]
            }
        }
    }
    let (runningMean, runningVariance) = (mean.floatValues(), variance.floatValues())
    let newMean = (0..<c).map { runningMean[$0] * momentum + batchMean[$0] * (1 - momentum) }
    let newVariance = (0..<c).map { runningVariance[$0] * momentum + batchVariance[$0] * (1 - momentum) }
    return [y, Tensor(floats: newMean, shape: [c]), Tensor(floats: newVariance, shape: [c])]
}

private func instanceNormalization(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "input")
    guard x.rank >= 2 else { throw ctx.failure("input rank \(x.rank) must be at least 2") }
    let (n, c) = (x.shape[0], x.shape[1])
    let scale = try parameter(ctx, 1, "scale", count: c), bias = try parameter(ctx, 2, "B", count: c)
    let y = try ctx.allocate(.float, x.shape)
    guard y.elementCount > 0 else { return y }
    x.withFloats { xp in
        scale.withFloats { sp in
            bias.withFloats { bp in
                Kernels.instanceNormalization(x: xp, y: y.mutableFloats, batch: n, channels: c,
                                              spatial: x.shape[2...].reduce(1, *), scale: sp, bias: bp,
                                              epsilon: ctx.float("epsilon", default: 1e-5))
            }
        }
    }
    return y
}

private func groupNormalization(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "input")
    guard x.rank >= 2 else { throw ctx.failure("input rank \(x.rank) must be at least 2") }
    let (n, c) = (x.shape[0], x.shape[1])
    let groups = try ctx.requiredInt("num_groups")
    guard groups > 0, c % groups == 0 else { throw ctx.failure("num_groups \(groups) must divide \(c) channels") }
    let scale = try ctx.floatInput(1, "scale"), bias = try ctx.floatInput(2, "bias")
    let perChannel = scale.elementCount == c
    guard (perChannel || scale.elementCount == groups), bias.elementCount == scale.elementCount else {
        throw ctx.failure("scale \(scale.shape) and bias \(bias.shape) must have \(c) (or \(groups)) elements")
    }
    let epsilon = ctx.float("epsilon", default: 1e-5)
    let spatial = x.shape[2...].reduce(1, *), span = c / groups * spatial
    let (s, b) = (scale.floatValues(), bias.floatValues())
    let y = try ctx.allocate(.float, x.shape)
    guard y.elementCount > 0 else { return y }
    let out = y.mutableFloats
    x.withFloats { xp in
        for image in 0..<n {
            for g in 0..<groups {
                let base = (image * groups + g) * span
                var sum = 0.0
                for i in 0..<span { sum += Double(xp[base + i]) }
                let mean = sum / Double(span)
                var squares = 0.0
                for i in 0..<span { squares += (Double(xp[base + i]) - mean) * (Double(xp[base + i]) - mean) }
                let inv = 1 / (Float(squares / Double(span)) + epsilon).squareRoot()
                for i in 0..<span {
                    let ch = g * (c / groups) + i / spatial
                    let k = perChannel ? ch : g
                    out[base + i] = (xp[base + i] - Float(mean)) * inv * s[k] + b[k]
                }
            }
        }
    }
    return y
}

private func layerNormalization(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.floatInput(0, "input")
    var axis = ctx.int("axis", default: -1)
    if axis < 0 { axis += x.rank }
    guard axis >= 0, axis < max(x.rank, 1) else { throw ctx.failure("axis \(ctx.int("axis", default: -1)) out of range for rank \(x.rank)") }
    let rows = x.shape[..<axis].reduce(1, *), size = x.shape[axis...].reduce(1, *)
    let scale = try ctx.floatInput(1, "scale")
    let bias = ctx.optionalInput(2)
    // Scale and bias broadcast onto the normalised shape; expand them to `size` values.
    func expanded(_ t: Tensor, _ role: String) throws -> [Float] {
        guard t.elementType == .float else { throw ctx.unsupported("\(role) type \(t.elementType)") }
        let v = t.floatValues()
        if v.count == size { return v }
        if v.count == 1 { return Array(repeating: v[0], count: size) }
        throw ctx.failure("\(role) \(t.shape) does not match the normalised shape \(Array(x.shape[axis...]))")
    }
    let s = try expanded(scale, "scale")
    let b = try bias.map { try expanded($0, "bias") }
    let statsShape = Array(x.shape[..<axis]) + Array(repeating: 1, count: x.rank - axis)
    let y = try ctx.allocate(.float, x.shape)
    let mean = try ctx.allocate(.float, statsShape), inv = try ctx.allocate(.float, statsShape)
    guard y.elementCount > 0 else { return [y, mean, inv] }
    // Scale then bias in one buffer, so one pointer pair covers the optional bias.
    let parameters = s + (b ?? [])
    let hasBias = b != nil
    let epsilon = ctx.float("epsilon", default: 1e-5)
    x.withFloats { xp in
        parameters.withUnsafeBufferPointer { pp in
            guard let base = pp.baseAddress else { return }
            Kernels.layerNormalization(x: xp, y: y.mutableFloats, rows: rows, size: size, scale: base,
                                       bias: hasBias ? base + size : nil, epsilon: epsilon,
                                       meanOut: mean.mutableFloats, invStdDevOut: inv.mutableFloats)
        }
    }
    return [y, mean, inv]
}

/// Splits `shape` around `axis` into (outer, axis size, inner) for ops that work along one axis.
private func split(_ shape: [Int], _ axis: Int) -> (Int, Int, Int) {
    (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
}

private func lpNormalization(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "input")
    var axis = ctx.int("axis", default: -1)
    if axis < 0 { axis += x.rank }
    guard axis >= 0, axis < x.rank else { throw ctx.failure("axis out of range for rank \(x.rank)") }
    let p = ctx.int("p", default: 2)
    guard p == 1 || p == 2 else { throw ctx.failure("p must be 1 or 2, got \(p)") }
    let (outer, n, inner) = split(x.shape, axis)
    let y = try ctx.allocate(.float, x.shape)
    let out = y.mutableFloats
    x.withFloats { xp in
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var norm: Float = 0
                for k in 0..<n {
                    let v = xp[base + k * inner]
                    norm += p == 1 ? abs(v) : v * v
                }
                if p == 2 { norm = norm.squareRoot() }
                for k in 0..<n { out[base + k * inner] = norm == 0 ? 0 : xp[base + k * inner] / norm }
            }
        }
    }
    return y
}

private func localResponseNormalization(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "input")
    guard x.rank >= 2 else { throw ctx.failure("input rank \(x.rank) must be at least 2") }
    let size = try ctx.requiredInt("size")
    guard size > 0 else { throw ctx.failure("size \(size) must be positive") }
    let alpha = ctx.float("alpha", default: 1e-4), beta = ctx.float("beta", default: 0.75)
    let bias = ctx.float("bias", default: 1)
    let (outer, c, inner) = split(x.shape, 1)
    let (before, after) = ((size - 1) / 2, size - 1 - (size - 1) / 2)
    let y = try ctx.allocate(.float, x.shape)
    let out = y.mutableFloats
    x.withFloats { xp in
        for o in 0..<outer {
            for ch in 0..<c {
                let lo = max(0, ch - before), hi = min(c - 1, ch + after)
                for i in 0..<inner {
                    var sum: Float = 0
                    for k in lo...hi {
                        let v = xp[(o * c + k) * inner + i]
                        sum += v * v
                    }
                    let index = (o * c + ch) * inner + i
                    out[index] = xp[index] / powf(bias + alpha / Float(size) * sum, beta)
                }
            }
        }
    }
    return y
}

private func meanVarianceNormalization(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "input")
    let axes = try normalizedAxes(ctx.ints("axes") ?? [0, 2, 3], rank: x.rank, ctx: ctx)
    // Group id of every element: its position among the kept (non-reduced) axes.
    let kept = x.shape.indices.filter { !axes.contains($0) }
    let groupCount = kept.map { x.shape[$0] }.reduce(1, *)
    let total = x.elementCount
    guard total > 0 else { return try ctx.allocate(.float, x.shape) }
    let keptStrides = rowMajorStrides(kept.map { x.shape[$0] })
    var group = [Int](repeating: 0, count: total)
    var index = [Int](repeating: 0, count: x.rank)
    for e in 0..<total {
        var g = 0
        for (j, axis) in kept.enumerated() { g += index[axis] * keptStrides[j] }
        group[e] = g
        _ = advance(&index, x.shape)
    }
    let values = x.floatValues()
    var sum = [Double](repeating: 0, count: groupCount), squares = sum
    for e in 0..<total {
        sum[group[e]] += Double(values[e])
        squares[group[e]] += Double(values[e]) * Double(values[e])
    }
    let perGroup = Double(total / max(groupCount, 1))
    let y = try ctx.allocate(.float, x.shape)
    let out = y.mutableFloats
    for e in 0..<total {
        let mean = sum[group[e]] / perGroup
        let variance = max(0, squares[group[e]] / perGroup - mean * mean)
        out[e] = Float((Double(values[e]) - mean) / (variance.squareRoot() + 1e-9))
    }
    return y
}
