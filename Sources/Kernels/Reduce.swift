import Foundation

/// ONNX Reduce* operations.
public enum ReduceOp: Sendable, Equatable {
    case sum, mean, max, min, prod, l1, l2, sumSquare, logSum, logSumExp
}

/// Reduces a contiguous tensor of `shape` over `axes` (any set, in any order; negative not allowed). The output is
/// the kept axes in order, contiguous (keepdims only changes the caller's shape). Empty reductions give the ONNX
/// identity (0 for sums, 1 for prod, -inf for max/logSumExp, +inf for min, NaN for mean).
///
/// When the reduced axes form one contiguous block, the tensor is viewed as [outer, reduced, inner] directly:
/// inner == 1 reduces contiguous rows (SIMD, 32 partial sums), inner > 1 accumulates whole rows with vectors along
/// inner. Any other axis set is first transposed so the reduced axes are last.
public func reduce(
    _ op: ReduceOp, x: UnsafePointer<Float>, shape: [Int], axes: [Int], y: UnsafeMutablePointer<Float>
) {
    let reduced = Set(axes)
    precondition(reduced.allSatisfy { $0 >= 0 && $0 < shape.count }, "reduce: bad axes \(axes)")
    let outCount = shape.enumerated().reduce(1) { reduced.contains($1.offset) ? $0 : $0 * $1.element }
    guard outCount > 0 else { return }
    let rCount = shape.enumerated().reduce(1) { reduced.contains($1.offset) ? $0 * $1.element : $0 }
    // Merge adjacent axes of the same kind (size-1 axes are neutral).
    var runs = [(reduced: Bool, size: Int)]()
    for (i, d) in shape.enumerated() where d != 1 {
        let r = reduced.contains(i)
        if let last = runs.last, last.reduced == r {
            runs[runs.count - 1].size *= d
        } else {
            runs.append((r, d))
        }
    }
    let reducedRuns = runs.filter(\.reduced).count
    if reducedRuns <= 1 {
        var outer = 1, inner = 1
        var seen = false
        for run in runs {
            if run.reduced { seen = true } else if seen { inner *= run.size } else { outer *= run.size }
        }
        reduceBlocks(op, x, outer, rCount, inner, y)
        return
    }
    let kept = (0..<shape.count).filter { !reduced.contains($0) }
    let perm = kept + (0..<shape.count).filter { reduced.contains($0) }
    let tmp = UnsafeMutablePointer<Float>.allocate(capacity: outCount * rCount)
    defer { tmp.deallocate() }
    transpose(src: x, shape: shape, perm: perm, elementSize: 4, dst: tmp)
    reduceBlocks(op, tmp, outCount, rCount, 1, y)
}

/// [outer, r, inner] → [outer, inner].
func reduceBlocks(
    _ op: ReduceOp, _ x: UnsafePointer<Float>, _ outer: Int, _ r: Int, _ inner: Int, _ y: UnsafeMutablePointer<Float>
) {
    if r == 0 {
        let identity: Float
        switch op {
        case .sum, .l1, .l2, .sumSquare: identity = 0
        case .prod: identity = 1
        case .max, .logSumExp: identity = -.infinity
        case .min: identity = .infinity
        case .mean: identity = .nan
        case .logSum: identity = -.infinity
        }
        y.update(repeating: identity, count: outer * inner)
        return
    }
    parallelFor(outer, minChunk: max(1, 32_768 / max(1, r * inner))) { range in
        if inner == 1 {
            for o in range { y[o] = reduceRow(op, x + o * r, r) }
        } else {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: inner)
            defer { scratch.deallocate() }
            for o in range { reduceColumns(op, x + o * r * inner, r, inner, y + o * inner, scratch) }
        }
    }
}

/// Reduces `n > 0` contiguous floats.
@inline(__always)
func reduceRow(_ op: ReduceOp, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
    switch op {
    case .sum: return vectorSum(x, n)
    case .mean: return vectorSum(x, n) / Float(n)
    case .max: return vectorExtreme(x, n, minimum: false)
    case .min: return vectorExtreme(x, n, minimum: true)
    case .prod:
        var acc = FloatVector(repeating: 1)
        var tail: Float = 1
        foldVectors(x, n, pad: 1) { acc *= $0 }
        for l in 0..<FloatVector.scalarCount { tail *= acc[l] }
        return tail
    case .l1, .l2, .sumSquare, .logSum:
        var acc = FloatVector()
        if op == .l1 {
            foldVectors(x, n, pad: 0) { acc += $0.replacing(with: -$0, where: $0 .< 0) }
        } else if op == .logSum {
            foldVectors(x, n, pad: 0) { acc += $0 }
        } else {
            foldVectors(x, n, pad: 0) { acc += $0 * $0 }
        }
        let s = acc.sum()
        switch op {
        case .l2: return s.squareRoot()
        case .logSum: return Foundation.log(s)
        default: return s
        }
    case .logSumExp:
        let m = vectorExtreme(x, n, minimum: false)
        if m.isInfinite { return m }
        var acc = FloatVector()
        foldVectors(x, n, pad: -.infinity) { acc += VectorMath.exp($0 - m) }
        return m + Foundation.log(acc.sum())
    }
}

/// Feeds `n` floats to `body` as vectors; the tail vector is filled with `pad` (the op's identity).
@inline(__always)
func foldVectors(_ x: UnsafePointer<Float>, _ n: Int, pad: Float, _ body: (FloatVector) -> Void) {
    let w = FloatVector.scalarCount
    let raw = UnsafeRawPointer(x)
    var i = 0
    while i + w <= n {
        body(raw.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self))
        i += w
    }
    if i < n {
        var v = FloatVector(repeating: pad)
        for j in 0..<(n - i) { v[j] = x[i + j] }
        body(v)
    }
}

/// Reduces `r` rows of `inner` floats elementwise into `y` (vectors along inner).
@inline(__always)
func reduceColumns(
    _ op: ReduceOp, _ x: UnsafePointer<Float>, _ r: Int, _ inner: Int, _ y: UnsafeMutablePointer<Float>,
    _ scratch: UnsafeMutablePointer<Float>
) {
    typealias V = FloatVector
    func fold(_ f: (V, V) -> V, _ g: (Float, Float) -> Float) {
        for k in 1..<r { binaryLoop(y, 1, x + k * inner, 1, y, inner, f, g) }
    }
    switch op {
    case .sum, .mean:
        y.update(from: x, count: inner)
        fold({ $0 + $1 }, { $0 + $1 })
        if op == .mean {
            let inv = Float(r)
            mapVectors(y, y, inner) { $0 / inv }
        }
    case .max:
        y.update(from: x, count: inner)
        fold({ a, b in a.replacing(with: b, where: b .> a) }, { Swift.max($0, $1) })
    case .min:
        y.update(from: x, count: inner)
        fold({ a, b in a.replacing(with: b, where: b .< a) }, { Swift.min($0, $1) })
    case .prod:
        y.update(from: x, count: inner)
        fold({ $0 * $1 }, { $0 * $1 })
    case .l1:
        mapVectors(x, y, inner) { $0.replacing(with: -$0, where: $0 .< 0) }
        fold({ a, b in a + b.replacing(with: -b, where: b .< 0) }, { $0 + Swift.abs($1) })
    case .l2, .sumSquare:
        mapVectors(x, y, inner) { $0 * $0 }
        fold({ $0 + $1 * $1 }, { $0 + $1 * $1 })
        if op == .l2 { mapVectors(y, y, inner) { $0.squareRoot() } }
    case .logSum:
        y.update(from: x, count: inner)
        fold({ $0 + $1 }, { $0 + $1 })
        unarySerial(.log, y, y, inner)
    case .logSumExp:
        // scratch = max over rows; y = Σ exp(x - max); y = max + log(y). Infinite maxima pass through as-is.
        scratch.update(from: x, count: inner)
        for k in 1..<r {
            binaryLoop(scratch, 1, x + k * inner, 1, scratch, inner,
                       { a, b in a.replacing(with: b, where: b .> a) }, { Swift.max($0, $1) })
        }
        y.update(repeating: 0, count: inner)
        for k in 0..<r {
            for i in 0..<inner {
                let m = scratch[i]
                if m.isFinite { y[i] += Foundation.exp(x[k * inner + i] - m) }
            }
        }
        for i in 0..<inner {
            let m = scratch[i]
            y[i] = m.isFinite ? m + Foundation.log(y[i]) : m
        }
    }
}
