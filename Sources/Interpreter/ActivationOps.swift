import IR
import Kernels

/// Activations: Relu, LeakyRelu, Elu, Selu, Celu, ThresholdedRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Softplus,
/// Softsign, Mish, Gelu (approximate none/tanh), Shrink, Clip.
///
/// Attribute defaults are the ONNX ones. Float types go through `applyUnary` (SIMD Kernels for float32); Relu also
/// takes integers. Clip is numpy's clip (min applied first, so min > max gives max everywhere; NaN stays NaN): before
/// opset 11 the bounds are float attributes, from 11 optional scalar inputs of the input's type (integers included).
func registerActivationOps(_ r: inout OpRegistry) {
    let fixed: [(String, UnaryOp)] = [
        ("Relu", .relu), ("Sigmoid", .sigmoid), ("HardSwish", .hardSwish), ("Tanh", .tanh), ("Softplus", .softplus),
        ("Softsign", .softsign), ("Mish", .mish),
    ]
    for (name, op) in fixed {
        let kernel: OpKernel = { ctx in [try applyUnary(op, try ctx.input(0), ctx: ctx)] }
        if name == "Relu" || name == "Sigmoid" || name == "Tanh" || name == "HardSwish" {
            r.registerFusible(name, kernel)
        } else {
            r.register(name, kernel)
        }
    }
    let parameterized: [(String, @Sendable (OpContext) throws -> UnaryOp)] = [
        ("LeakyRelu", { .leakyRelu(alpha: $0.float("alpha", default: 0.01)) }),
        ("Elu", { .elu(alpha: $0.float("alpha", default: 1)) }),
        ("Selu", { .selu(alpha: $0.float("alpha", default: 1.673_263_192_176_818_847_656_25),
                         gamma: $0.float("gamma", default: 1.050_701_022_148_132_324_218_75)) }),
        ("Celu", { .celu(alpha: $0.float("alpha", default: 1)) }),
        ("ThresholdedRelu", { .thresholdedRelu(alpha: $0.float("alpha", default: 1)) }),
        ("HardSigmoid", { .hardSigmoid(alpha: $0.float("alpha", default: 0.2), beta: $0.float("beta", default: 0.5)) }),
        ("Shrink", { .shrink(bias: $0.float("bias", default: 0), lambd: $0.float("lambd", default: 0.5)) }),
        ("Gelu", { ctx in
            let approximate = ctx.string("approximate", default: "none")
            guard approximate == "none" || approximate == "tanh" else {
                throw ctx.failure("invalid approximate '\(approximate)'")
            }
            return .gelu(tanhApproximation: approximate == "tanh")
        }),
    ]
    for (name, makeOp) in parameterized {
        let kernel: OpKernel = { ctx in
            let x = try ctx.input(0)
            // Only float types: integers would silently truncate these formulas.
            guard x.elementType.isFloatingPoint else { throw ctx.unsupported("\(name) on \(x.elementType)") }
            let op = try makeOp(ctx)
            if case .thresholdedRelu(let alpha) = op, x.elementType == .float || x.elementType.isWidenedToFloat {
                // The Kernels version keeps NaN (it zeroes x <= alpha); ONNX's where(x > alpha, x, 0) gives 0.
                let wide = try widened(x, ctx: ctx)
                let out = try ctx.allocate(.float, x.shape)
                wide.withElements(Float.self) { mapElements($0, out.mutableElements(Float.self), x.elementCount) { $0 > alpha ? $0 : 0 } }
                return [try convert(out, to: x.elementType, ctx: ctx)]
            }
            return [try applyUnary(op, x, ctx: ctx)]
        }
        if name == "HardSigmoid" || name == "LeakyRelu" { r.registerFusible(name, kernel) } else { r.register(name, kernel) }
    }
    r.registerFusible("Clip") { ctx in
        [try clip(try ctx.input(0), bounds: [ctx.optionalInput(1), ctx.optionalInput(2)], node: ctx.node, ctx: ctx)]
    }
}

/// Clip of `x` as node `node` (whose attributes hold the bounds before opset 11) specifies it.
func clip(_ x: Tensor, bounds inputs: [Tensor?], node: Node, ctx: OpContext) throws -> Tensor {
    if ctx.opset < 11 {
        let lo = floatAttribute(node, "min", default: -.greatestFiniteMagnitude)
        let hi = floatAttribute(node, "max", default: .greatestFiniteMagnitude)
        guard x.elementType.isFloatingPoint else { throw ctx.unsupported("Clip on \(x.elementType)") }
        return try applyUnary(floatClip(lo, hi), x, ctx: ctx)
    }
    let type = x.elementType
    var bounds: [Tensor?] = []
    for index in [1, 2] {
        guard index - 1 < inputs.count, let bound = inputs[index - 1] else { bounds.append(nil); continue }
        guard bound.elementCount == 1 else { throw ctx.failure("bound \(index) must be a scalar, has shape \(bound.shape)") }
        guard bound.elementType == type else { throw ctx.failure("bound \(index) is \(bound.elementType), input is \(type)") }
        bounds.append(type.isWidenedToFloat ? try widened(bound, ctx: ctx) : bound)
    }
    if type.isWidenedToFloat || type == .float {
        let lo = bounds[0]?.floatValues().first ?? -.infinity, hi = bounds[1]?.floatValues().first ?? .infinity
        return try applyUnary(floatClip(lo, hi), x, ctx: ctx)
    }
    let out = try ctx.allocate(type, x.shape)
    guard try type.visit(ClipVisitor(x: x, lo: bounds[0], hi: bounds[1], out: out)) != nil else {
        throw ctx.unsupported("Clip on \(type)")
    }
    return out
}

/// The Kernels clip tests both bounds against the original value, so with min > max values below min come out as
/// min; numpy (and ONNX) give max for every non-NaN value then, which clipping to [max, max] reproduces.
func floatClip(_ lo: Float, _ hi: Float) -> UnaryOp { lo > hi ? .clip(min: hi, max: hi) : .clip(min: lo, max: hi) }

/// Clip for integers and float64; a missing bound is the type's extreme.
private struct ClipVisitor: ElementTypeVisitor {
    let x: Tensor, lo: Tensor?, hi: Tensor?, out: Tensor

    func integer<T: IntegerElement>(_ type: T.Type) { run(lower: bound(lo, T.self) ?? T.min, upper: bound(hi, T.self) ?? T.max) }
    func floating<T: FloatElement>(_ type: T.Type) { run(lower: bound(lo, T.self) ?? -T.infinity, upper: bound(hi, T.self) ?? T.infinity) }

    private func bound<T: BitwiseCopyable>(_ t: Tensor?, _: T.Type) -> T? { t?.withElements(T.self) { $0[0] } }

    private func run<T: Comparable & BitwiseCopyable>(lower: T, upper: T) {
        x.withElements(T.self) { px in
            mapElements(px, out.mutableElements(T.self), x.elementCount) { v in
                let t = v < lower ? lower : v
                return t > upper ? upper : t
            }
        }
    }
}
