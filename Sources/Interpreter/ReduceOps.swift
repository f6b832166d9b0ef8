import Foundation
import IR
import Kernels

/// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
/// ReduceSumSquare.
///
/// Axes come from the `axes` attribute before opset 13 (ReduceSum) / 18 (the others) and from the optional second
/// input after. No axes means all axes, unless `noop_with_empty_axes` is set (then the input passes through).
/// `keepdims` (default 1) keeps reduced axes as size 1. Reducing an empty set gives the op's identity: 0 for sums and
/// norms, 1 for prod, -inf for max/log-sum/log-sum-exp, +inf for min, NaN for mean (integers saturate those).
/// float32 runs the vectorized kernel; other numeric types reduce rows in their own type (integer sums, products and
/// extrema wrap like numpy's and stay exact) or in Double for the transcendental forms, then convert back.
func registerReduceOps(_ r: inout OpRegistry) {
    let ops: [(String, ReduceOp)] = [
        ("ReduceSum", .sum), ("ReduceMean", .mean), ("ReduceMax", .max), ("ReduceMin", .min), ("ReduceProd", .prod),
        ("ReduceL1", .l1), ("ReduceL2", .l2), ("ReduceLogSum", .logSum), ("ReduceLogSumExp", .logSumExp),
        ("ReduceSumSquare", .sumSquare),
    ]
    for (name, op) in ops {
        r.register(name) { ctx in [try reduction(op, ctx: ctx)] }
    }
}

private func reduction(_ op: ReduceOp, ctx: OpContext) throws -> Tensor {
    let x = try ctx.input(0)
    let axesFromInput = ctx.opset >= (op == .sum ? 13 : 18)
    var given: [Int] = []
    if axesFromInput {
        if let t = ctx.optionalInput(1) { given = try indexValues(t, ctx: ctx) }
    } else if let a = ctx.ints("axes") {
        given = a
    }
    if given.isEmpty && ctx.int("noop_with_empty_axes", default: 0) != 0 { return x }
    let axes = given.isEmpty ? Array(0..<x.rank) : Array(Set(try normalizedAxes(given, rank: x.rank, ctx: ctx))).sorted()
    let keepDims = ctx.int("keepdims", default: 1) != 0
    var shape: [Int] = []
    for (a, d) in x.shape.enumerated() {
        if !axes.contains(a) { shape.append(d) } else if keepDims { shape.append(1) }
    }
    let out = try ctx.allocate(x.elementType, shape)
    guard out.elementCount > 0 else { return out }
    if x.elementType == .float {
        x.withUnsafeBufferPointer(as: Float.self) { src in
            guard let base = src.baseAddress else { return }
            reduce(op, x: base, shape: x.shape, axes: axes, y: mutableElements(out, Float.self))
        }
        return out
    }
    // Generic path: move the reduced axes last (byte-generic transpose), then reduce contiguous rows.
    let kept = (0..<x.rank).filter { !axes.contains($0) }
    let perm = kept + axes
    var rows = x
    if perm != Array(0..<x.rank) && x.elementCount > 0 {
        rows = try ctx.allocate(x.elementType, perm.map { x.shape[$0] })
        transpose(src: x.storage.baseAddress, shape: x.shape, perm: perm, elementSize: try elementSize(x, ctx: ctx),
                  dst: rows.storage.mutableBaseAddress)
    }
    let length = axes.reduce(1) { $0 * x.shape[$1] }
    try dispatchNumeric(x.elementType, RowReducer(op: op, rows: rows, out: out, length: length), ctx: ctx)
    return out
}

/// Reduces `out.elementCount` contiguous rows of `length` elements of `rows` into `out`.
private struct RowReducer: NumericVisitor {
    let op: ReduceOp, rows: Tensor, out: Tensor, length: Int

    func visit<T: NumericElement>(_: T.Type) throws {
        let s = elements(rows, T.self), d = mutableElements(out, T.self)
        let isFloat = T.isFloatingPointElement
        for o in 0..<out.elementCount {
            let row = UnsafeBufferPointer(start: s + o * length, count: length)
            d[o] = isFloat ? T.fromDouble(reduceDoubles(row)) : reduceExact(row)
        }
    }

    /// Integer path: sums, products and extrema in the element type (wrapping), the rest through Double.
    private func reduceExact<T: NumericElement>(_ row: UnsafeBufferPointer<T>) -> T {
        switch op {
        case .sum: return row.reduce(T.zeroValue, T.plus)
        case .prod: return row.reduce(T.fromDouble(1), T.times)
        case .max: return row.max() ?? T.fromDouble(-.infinity)
        case .min: return row.min() ?? T.fromDouble(.infinity)
        case .sumSquare: return row.reduce(T.zeroValue) { T.plus($0, T.times($1, $1)) }
        case .l1: return row.reduce(T.zeroValue) { T.plus($0, $1 < T.zeroValue ? T.fromDouble(-$1.doubleValue) : $1) }
        default: return T.fromDouble(reduceDoubles(row))
        }
    }

    private func reduceDoubles<T: NumericElement>(_ row: UnsafeBufferPointer<T>) -> Double {
        let v = row.map(\.doubleValue)
        switch op {
        case .sum: return v.reduce(0, +)
        case .mean: return v.reduce(0, +) / Double(v.count)
        case .prod: return v.reduce(1, *)
        case .max: return v.reduce(-.infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .min: return v.reduce(.infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        case .l1: return v.reduce(0) { $0 + Swift.abs($1) }
        case .l2: return v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        case .sumSquare: return v.reduce(0) { $0 + $1 * $1 }
        case .logSum: return Foundation.log(v.reduce(0, +))
        case .logSumExp:
            let m = v.reduce(-.infinity) { Swift.max($0, $1) }
            if !m.isFinite { return m }
            return m + Foundation.log(v.reduce(0) { $0 + Foundation.exp($1 - m) })
        }
    }
}
