import Foundation
import IR
import Kernels

/// Softmax, LogSoftmax and Hardmax.
///
/// Opset < 13: the input is coerced to 2-D at `axis` (default 1) and normalized over the flattened trailing block.
/// Opset ≥ 13: normalized over the single axis `axis` (default -1). Hardmax is one-hot at the first maximum (the
/// first NaN, if any, as numpy's argmax). float32 runs the Kernels softmax; float16/bfloat16 are computed in float32;
/// float64 in double precision.
func registerSoftmaxOps(_ r: inout OpRegistry) {
    let ops: [(String, SoftmaxKind)] = [("Softmax", .softmax), ("LogSoftmax", .logSoftmax), ("Hardmax", .hardmax)]
    for (name, kind) in ops {
        r.register(name) { ctx in
            let x = try ctx.input(0)
            let (outer, length, inner) = try softmaxBlocks(x.shape, ctx: ctx)
            return [try normalize(kind, x, outer: outer, length: length, inner: inner, ctx: ctx)]
        }
    }
}

private enum SoftmaxKind { case softmax, logSoftmax, hardmax }

/// The [outer, axis length, inner] view of the input the op normalizes over.
private func softmaxBlocks(_ shape: [Int], ctx: OpContext) throws -> (Int, Int, Int) {
    let rank = shape.count
    let legacy = ctx.opset < 13
    var axis = ctx.int("axis", default: legacy ? 1 : -1)
    if axis < 0 { axis += rank }
    // Coercion to 2-D allows axis == rank (a [N, 1] view); rank-0 inputs behave as [1].
    guard axis >= 0, axis < rank || (legacy && axis == rank) || (rank == 0 && axis == 0) else {
        throw ctx.failure("axis \(ctx.int("axis", default: 0)) out of range for shape \(shape)")
    }
    let outer = shape[..<min(axis, rank)].reduce(1, *)
    if legacy { return (outer, shape[min(axis, rank)...].reduce(1, *), 1) }
    guard rank > 0 else { return (1, 1, 1) }
    return (outer, shape[axis], shape[(axis + 1)...].reduce(1, *))
}

private func normalize(_ kind: SoftmaxKind, _ x: Tensor, outer: Int, length: Int, inner: Int, ctx: OpContext) throws -> Tensor {
    let type = x.elementType
    if type.isWidenedToFloat {
        let y = try normalize(kind, try widened(x, ctx: ctx), outer: outer, length: length, inner: inner, ctx: ctx)
        return try convert(y, to: type, ctx: ctx)
    }
    let out = try ctx.allocate(type, x.shape)
    switch (type, kind) {
    case (.float, .hardmax):
        x.withElements(Float.self) { hardmax($0, out.mutableElements(Float.self), outer, length, inner) }
    case (.double, .hardmax):
        x.withElements(Double.self) { hardmax($0, out.mutableElements(Double.self), outer, length, inner) }
    case (.float, _):
        x.withElements(Float.self) { px in
            softmax(x: px, y: out.mutableElements(Float.self), outer: outer, axisLength: length, inner: inner,
                    log: kind == .logSoftmax)
        }
    case (.double, _):
        x.withElements(Double.self) {
            doubleSoftmax($0, out.mutableElements(Double.self), outer, length, inner, log: kind == .logSoftmax)
        }
    default:
        throw ctx.unsupported("\(ctx.node.opType) on \(type)")
    }
    return out
}

/// One-hot of the first maximum along the axis of each [length, inner] block.
private func hardmax<T: FloatElement>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ outer: Int, _ length: Int, _ inner: Int) {
    y.update(repeating: 0, count: outer * length * inner)
    guard length > 0 else { return }
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * length * inner + i
            var best = 0
            for k in 1..<max(1, length) where !x[base + best * inner].isNaN {
                let v = x[base + k * inner]
                if v.isNaN || v > x[base + best * inner] { best = k }
            }
            y[base + best * inner] = 1
        }
    }
}

/// Max-shifted softmax / log-softmax in double precision.
private func doubleSoftmax(
    _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ outer: Int, _ length: Int, _ inner: Int, log: Bool
) {
    guard length > 0 else { return }
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * length * inner + i
            var m = -Double.infinity
            for k in 0..<length { m = Swift.max(m, x[base + k * inner]) }
            var sum = 0.0
            for k in 0..<length { sum += Foundation.exp(x[base + k * inner] - m) }
            for k in 0..<length {
                let e = x[base + k * inner] - m
                y[base + k * inner] = log ? e - Foundation.log(sum) : Foundation.exp(e) / sum
            }
        }
    }
}
