import IR

/// Integer and quantized linear ops, computed exactly with int32 accumulation (wrapping, as int32 arithmetic does):
/// - MatMulInteger / ConvInteger: `(a - a_zp) · (b - b_zp)` → int32; a_zp is per tensor or per row of A
///   (per tensor for ConvInteger's x), b_zp per tensor or per column of B (per output channel of the weight).
/// - QLinearMatMul / QLinearConv: the int32 result (+ int32 bias B for QLinearConv) times
///   `a_scale · b_scale / y_scale` (per row/column/output channel where the scales are vectors), rounded half to
///   even, plus y_zp, saturated to y_zp's type (uint8 when absent).
/// Shapes and attributes follow MatMul (numpy broadcasting) and Conv (`convolutionSetup`).
func registerQuantizedLinearOps(_ r: inout OpRegistry) {
    r.register("MatMulInteger") { ctx in
        let (a, b) = (try ctx.input(0), try ctx.input(1))
        let (plan, c) = try integerMatMul(ctx, a, b, ctx.optionalInput(2), ctx.optionalInput(3))
        return [Tensor(.int32, shape: plan.outputShape, values: c)]
    }
    r.register("QLinearMatMul") { ctx in
        let (a, b) = (try ctx.input(0), try ctx.input(3))
        let (plan, c) = try integerMatMul(ctx, a, b, ctx.optionalInput(2), ctx.optionalInput(5))
        let aScale = try ctx.input(1).floatValues(), bScale = try ctx.input(4).floatValues()
        let yScale = try ctx.input(6).floatValues()
        guard (aScale.count == 1 || aScale.count == plan.m), (bScale.count == 1 || bScale.count == plan.n),
              yScale.count == 1 else {
            throw ctx.failure("scales must be per tensor, per row of A or per column of B")
        }
        let (m, n) = (plan.m, plan.n)
        let real = c.indices.map { e -> Double in
            let (row, col) = ((e / n) % m, e % n)
            return Double(c[e]) * Double(aScale[aScale.count == 1 ? 0 : row] * bScale[bScale.count == 1 ? 0 : col] / yScale[0])
        }
        return [try requantized(ctx, real, zeroPoint: ctx.optionalInput(7), shape: plan.outputShape)]
    }
    r.register("ConvInteger") { ctx in
        let (setup, acc) = try integerConvolution(ctx, x: try ctx.input(0), w: try ctx.input(1),
                                                  xZero: ctx.optionalInput(2), wZero: ctx.optionalInput(3))
        return [Tensor(.int32, shape: setup.outputShape, values: acc)]
    }
    r.register("QLinearConv") { ctx in
        let (setup, acc) = try integerConvolution(ctx, x: try ctx.input(0), w: try ctx.input(3),
                                                  xZero: ctx.optionalInput(2), wZero: ctx.optionalInput(5))
        let m = setup.outChannels
        let xScale = try ctx.input(1).floatValues(), wScale = try ctx.input(4).floatValues()
        let yScale = try ctx.input(6).floatValues()
        guard xScale.count == 1, wScale.count == 1 || wScale.count == m, yScale.count == 1 else {
            throw ctx.failure("x/y scales must be scalars and w_scale scalar or per output channel")
        }
        var bias = [Int32](repeating: 0, count: m)
        if let b = ctx.optionalInput(8) {
            guard b.elementType == .int32, b.elementCount == m else { throw ctx.failure("B must be int32 [\(m)]") }
            bias = b.scalars(as: Int32.self)
        }
        let plane = setup.geometry.output.reduce(1, *)
        let real = acc.indices.map { e -> Double in
            let channel = (e / max(plane, 1)) % m
            let scale = xScale[0] * wScale[wScale.count == 1 ? 0 : channel] / yScale[0]
            return Double(acc[e] &+ bias[channel]) * Double(scale)
        }
        return [try requantized(ctx, real, zeroPoint: ctx.optionalInput(7), shape: setup.outputShape)]
    }
}

/// Elements of an 8/16/32-bit integer tensor as Int32.
private func int32Values(_ t: Tensor, _ ctx: OpContext) throws -> [Int32] {
    guard [.uint8, .int8, .uint16, .int16, .int32].contains(t.elementType) else {
        throw ctx.unsupported("integer input type \(t.elementType)")
    }
    return t.int64Values().map { Int32(truncatingIfNeeded: $0) }
}

/// A zero point as a per-index lookup: one value, or `count` values.
private func zeroPoints(_ t: Tensor?, like x: Tensor, count: Int, _ role: String, _ ctx: OpContext) throws -> [Int32] {
    guard let t else { return [0] }
    guard t.elementType == x.elementType else { throw ctx.failure("\(role) type \(t.elementType) differs from \(x.elementType)") }
    let v = try int32Values(t, ctx)
    guard v.count == 1 || v.count == count else { throw ctx.failure("\(role) \(t.shape) must have 1 or \(count) elements") }
    return v
}

private func integerMatMul(
    _ ctx: OpContext, _ a: Tensor, _ b: Tensor, _ aZeroTensor: Tensor?, _ bZeroTensor: Tensor?
) throws -> (MatMulPlan, [Int32]) {
    let plan = try MatMulPlan(ctx, a: a.shape, b: b.shape)
    let (m, k, n) = (plan.m, plan.k, plan.n)
    let aZero = try zeroPoints(aZeroTensor, like: a, count: m, "a_zero_point", ctx)
    let bZero = try zeroPoints(bZeroTensor, like: b, count: n, "b_zero_point", ctx)
    let av = try int32Values(a, ctx), bv = try int32Values(b, ctx)
    var c = [Int32](repeating: 0, count: plan.outputShape.reduce(1, *))
    plan.forEachEntry { entry, ai, bi in
        for i in 0..<m {
            let za = aZero[aZero.count == 1 ? 0 : i]
            for j in 0..<n {
                let zb = bZero[bZero.count == 1 ? 0 : j]
                var s: Int32 = 0
                for p in 0..<k {
                    s = s &+ (av[ai * m * k + i * k + p] &- za) &* (bv[bi * k * n + p * n + j] &- zb)
                }
                c[entry * m * n + i * n + j] = s
            }
        }
    }
    return (plan, c)
}

private func integerConvolution(
    _ ctx: OpContext, x: Tensor, w: Tensor, xZero xZeroTensor: Tensor?, wZero wZeroTensor: Tensor?
) throws -> (ConvolutionSetup, [Int32]) {
    let setup = try convolutionSetup(ctx, x: x.shape, w: w.shape)
    let (n, c, m, group) = (setup.batch, setup.channels, setup.outChannels, setup.group)
    let xZero = try zeroPoints(xZeroTensor, like: x, count: 1, "x_zero_point", ctx)[0]
    let wZero = try zeroPoints(wZeroTensor, like: w, count: m, "w_zero_point", ctx)
    let g = setup.geometry
    let inPlane = g.input.reduce(1, *), outPlane = g.output.reduce(1, *), kernelCount = g.kernel.reduce(1, *)
    let xs = try int32Values(x, ctx).map { $0 &- xZero }
    var ws = try int32Values(w, ctx)
    let perChannel = ws.count / max(m, 1)
    for e in ws.indices { ws[e] = ws[e] &- wZero[wZero.count == 1 ? 0 : e / max(perChannel, 1)] }
    let table = TapTable(g)
    let (cg, mg) = (c / group, m / group)
    var acc = [Int32](repeating: 0, count: n * m * outPlane)
    for image in 0..<n {
        for oc in 0..<m {
            let gi = oc / mg
            for position in 0..<outPlane {
                var s: Int32 = 0
                for ci in 0..<cg {
                    let src = (image * c + gi * cg + ci) * inPlane
                    let wk = (oc * cg + ci) * kernelCount
                    for e in table.start[position]..<table.start[position + 1] {
                        s = s &+ xs[src + table.inputOffset[e]] &* ws[wk + table.tap[e]]
                    }
                }
                acc[(image * m + oc) * outPlane + position] = s
            }
        }
    }
    return (setup, acc)
}

/// Rounds real values half to even, adds the zero point and saturates to its type (uint8 when absent).
private func requantized(_ ctx: OpContext, _ real: [Double], zeroPoint: Tensor?, shape: [Int]) throws -> Tensor {
    let type = zeroPoint?.elementType ?? .uint8
    guard let range = integerRange(type) else { throw ctx.unsupported("output type \(type)") }
    let zero = try zeroPoint.map { try int32Values($0, ctx) }?.first ?? 0
    guard zeroPoint.map({ $0.elementCount == 1 }) ?? true else { throw ctx.failure("y_zero_point must be a scalar") }
    let codes = real.map { v -> Int64 in
        let q = v.rounded(.toNearestOrEven) + Double(zero)
        return q.isNaN ? Int64(zero) : Int64(min(max(q, Double(range.lowerBound)), Double(range.upperBound)))
    }
    return try encodeIntegers(codes, type, shape, ctx)
}
