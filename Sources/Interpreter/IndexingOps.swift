import IR
import Kernels

/// Index-driven ops: Gather, GatherElements, GatherND, Scatter/ScatterElements/ScatterND (reductions none, add,
/// mul, max, min), OneHot, Unique, EyeLike, Trilu, NonZero, CumSum, CumProd, TopK, ArgMax, ArgMin.
///
/// Every index is validated against its axis before any memory is touched (negative indices count from the end);
/// an out-of-range index is a `failure` naming it. Gathers compute element offsets first and then copy runs with
/// one typed loop or memcpy per run. TopK and ArgMax/ArgMin break ties by the lower index (ArgMax/ArgMin by the
/// higher one with `select_last_index`); NaN compares above every number, as numpy's sort order has it.
func registerIndexingOps(_ r: inout OpRegistry) {
    r.register("Gather") { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1)
        guard x.rank >= 1 else { throw ctx.failure("Gather needs data of rank ≥ 1") }
        let axis = try normalizedAxes([ctx.int("axis", default: 0)], rank: x.rank, ctx: ctx)[0]
        let idx = try validatedIndices(indices, bound: x.shape[axis], what: "Gather index on axis \(axis)", ctx: ctx)
        return try mappingStrings([x], ctx: ctx) { t in
            [try gathered(t[0], axis: axis, indices: idx, indexShape: indices.shape, ctx: ctx)]
        }
    }
    r.register("GatherElements") { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1)
        let axis = try normalizedAxes([ctx.int("axis", default: 0)], rank: x.rank, ctx: ctx)[0]
        let offsets = try elementOffsets(data: x.shape, indices: indices, axis: axis, ctx: ctx)
        return try mappingStrings([x], ctx: ctx) { t in
            let out = try ctx.allocate(t[0].elementType, indices.shape)
            gatherRuns(t[0].storage.baseAddress, offsets: offsets, length: 1, elementSize: try elementSize(t[0], ctx: ctx),
                       dst: out.storage.mutableBaseAddress)
            return [out]
        }
    }
    r.register("GatherND") { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1)
        let (offsets, slice, outShape) = try ndOffsets(data: x.shape, indices: indices,
                                                       batchDims: ctx.int("batch_dims", default: 0), ctx: ctx)
        return try mappingStrings([x], ctx: ctx) { t in
            let out = try ctx.allocate(t[0].elementType, outShape)
            gatherRuns(t[0].storage.baseAddress, offsets: offsets, length: slice, elementSize: try elementSize(t[0], ctx: ctx),
                       dst: out.storage.mutableBaseAddress)
            return [out]
        }
    }
    let scatterElements: OpKernel = { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1), updates = try ctx.input(2)
        guard updates.shape == indices.shape else { throw ctx.failure("updates \(updates.shape) != indices \(indices.shape)") }
        let axis = try normalizedAxes([ctx.int("axis", default: 0)], rank: x.rank, ctx: ctx)[0]
        let offsets = try elementOffsets(data: x.shape, indices: indices, axis: axis, ctx: ctx)
        return [try scatter(x, updates, offsets: offsets, slice: 1, ctx: ctx)]
    }
    r.register("ScatterElements", scatterElements)
    r.register("Scatter", scatterElements)
    r.register("ScatterND") { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1), updates = try ctx.input(2)
        let (offsets, slice, updateShape) = try ndOffsets(data: x.shape, indices: indices, batchDims: 0, ctx: ctx)
        guard updates.shape == updateShape else { throw ctx.failure("updates \(updates.shape) != expected \(updateShape)") }
        return [try scatter(x, updates, offsets: offsets, slice: slice, ctx: ctx)]
    }
    r.register("OneHot") { ctx in try oneHot(ctx) }
    r.register("Unique") { ctx in try unique(ctx) }
    r.register("EyeLike") { ctx in
        let x = try ctx.input(0)
        guard x.rank == 2 else { throw ctx.failure("EyeLike needs a 2-D input, got \(x.shape)") }
        var type = x.elementType
        if ctx.node.attribute("dtype") != nil {
            guard let t = ElementType(rawValue: Int32(clamping: ctx.int("dtype", default: 1))) else { throw ctx.failure("bad dtype") }
            type = t
        }
        let out = try ctx.allocateZeroed(type, x.shape)
        let one = try convert(Tensor(scalar: 1), to: type, ctx: ctx)
        let es = try elementSize(out, ctx: ctx), k = ctx.int("k", default: 0)
        for i in 0..<x.shape[0] where i + k >= 0 && i + k < x.shape[1] {
            (out.storage.mutableBaseAddress + (i * x.shape[1] + i + k) * es).copyMemory(from: one.storage.baseAddress, byteCount: es)
        }
        return [out]
    }
    r.register("Trilu") { ctx in
        let x = try ctx.input(0)
        guard x.rank >= 2 else { throw ctx.failure("Trilu needs rank ≥ 2, got \(x.shape)") }
        var k = 0
        if let kt = ctx.optionalInput(1) {
            guard let v = try indexValues(kt, ctx: ctx).first else { throw ctx.failure("k is empty") }
            k = v
        }
        let upper = ctx.int("upper", default: 1) != 0
        return try mappingStrings([x], ctx: ctx) { t in
            let out = try copied(t[0], ctx: ctx)
            let es = try elementSize(out, ctx: ctx)
            let n = x.shape[x.rank - 2], m = x.shape[x.rank - 1]
            let dst = out.storage.mutableBaseAddress
            for b in 0..<(n * m == 0 ? 0 : x.elementCount / (n * m)) {
                for i in 0..<n {
                    // Zeroed columns: [0, i+k) when keeping the upper part, (i+k, m) for the lower part.
                    let range = upper ? 0..<min(m, max(0, i + k)) : min(m, max(0, i + k + 1))..<m
                    guard !range.isEmpty else { continue }
                    (dst + ((b * n + i) * m + range.lowerBound) * es).initializeMemory(as: UInt8.self, repeating: 0,
                                                                                         count: range.count * es)
                }
            }
            return [out]
        }
    }
    r.register("NonZero") { ctx in
        let x = try ctx.input(0)
        let flat = try dispatchNumeric(x.elementType, NonZeroVisitor(x: x), ctx: ctx)
        let strides = contiguousStrides(x.shape)
        var coords = [Int64](repeating: 0, count: x.rank * flat.count)
        for (j, linear) in flat.enumerated() {
            for a in 0..<x.rank { coords[a * flat.count + j] = Int64((linear / strides[a]) % x.shape[a]) }
        }
        return [Tensor(int64s: coords, shape: [x.rank, flat.count])]
    }
    for (name, product) in [("CumSum", false), ("CumProd", true)] {
        r.register(name) { ctx in
            let x = try ctx.input(0)
            guard let a = try indexValues(try ctx.input(1), ctx: ctx).first else { throw ctx.failure("axis is empty") }
            let axis = try normalizedAxes([a], rank: x.rank, ctx: ctx)[0]
            let visitor = CumulativeVisitor(x: x, axis: axis, product: product,
                                            exclusive: ctx.int("exclusive", default: 0) != 0,
                                            reverse: ctx.int("reverse", default: 0) != 0, ctx: ctx)
            return [try dispatchNumeric(x.elementType, visitor, ctx: ctx)]
        }
    }
    r.register("TopK") { ctx in
        let x = try ctx.input(0)
        guard x.rank >= 1 else { throw ctx.failure("TopK needs rank ≥ 1") }
        let axis = try normalizedAxes([ctx.int("axis", default: -1)], rank: x.rank, ctx: ctx)[0]
        var k = ctx.int("k", default: 0)
        if ctx.opset >= 10 {
            guard let v = try indexValues(try ctx.input(1), ctx: ctx).first else { throw ctx.failure("K is empty") }
            k = v
        }
        guard k >= 0, k <= x.shape[axis] else { throw ctx.failure("k = \(k) outside [0, \(x.shape[axis])]") }
        let visitor = TopKVisitor(x: x, axis: axis, k: k, largest: ctx.int("largest", default: 1) != 0, ctx: ctx)
        return try dispatchNumeric(x.elementType, visitor, ctx: ctx)
    }
    for (name, isMax) in [("ArgMax", true), ("ArgMin", false)] {
        r.register(name) { ctx in
            let x = try ctx.input(0)
            let axis = try normalizedAxes([ctx.int("axis", default: 0)], rank: x.rank, ctx: ctx)[0]
            let visitor = ArgExtremeVisitor(x: x, axis: axis, isMax: isMax,
                                            keepDims: ctx.int("keepdims", default: 1) != 0,
                                            last: ctx.int("select_last_index", default: 0) != 0, ctx: ctx)
            return [try dispatchNumeric(x.elementType, visitor, ctx: ctx)]
        }
    }
}

// MARK: index validation

/// Index tensor contents normalized to [0, bound); any index outside [-bound, bound) is a failure.
func validatedIndices(_ t: Tensor, bound: Int, what: String, ctx: OpContext) throws -> [Int64] {
    guard t.elementType == .int64 || t.elementType == .int32 else {
        throw ctx.failure("\(what): indices must be int32 or int64, got \(t.elementType)")
    }
    return try t.int64Values().map { v in
        let n = v < 0 ? v + Int64(bound) : v
        guard n >= 0, n < Int64(bound) else { throw ctx.failure("\(what): index \(v) out of range [-\(bound), \(bound))") }
        return n
    }
}

/// Data offsets for GatherElements/ScatterElements: element `i` of `indices` addresses data at i's coordinates with
/// the `axis` coordinate replaced by the index. Size-1 data axes broadcast; other index dims must fit the data.
private func elementOffsets(data: [Int], indices: Tensor, axis: Int, ctx: OpContext) throws -> [Int] {
    guard indices.rank == data.count else { throw ctx.failure("indices rank \(indices.rank) != data rank \(data.count)") }
    let dataStrides = contiguousStrides(data)
    var strides = dataStrides
    for a in data.indices where a != axis {
        if data[a] == 1 && indices.shape[a] != 1 {
            strides[a] = 0
        } else if indices.shape[a] > data[a] {
            throw ctx.failure("indices shape \(indices.shape) exceeds data shape \(data) on axis \(a)")
        }
    }
    let idx = try validatedIndices(indices, bound: data[axis], what: "index on axis \(axis)", ctx: ctx)
    var offsets = [Int](repeating: 0, count: idx.count)
    var coord = [Int](repeating: 0, count: data.count)
    var base = 0
    for k in 0..<idx.count {
        offsets[k] = base + Int(idx[k]) * dataStrides[axis]
        var a = data.count - 1
        while a >= 0 {
            coord[a] += 1
            if a != axis { base += strides[a] }
            if coord[a] < indices.shape[a] { break }
            if a != axis { base -= strides[a] * coord[a] }
            coord[a] = 0
            a -= 1
        }
    }
    return offsets
}

/// GatherND/ScatterND addressing: offsets of each addressed slice, the slice length, and the gathered shape
/// (`indices.shape[..<-1] + data.shape[batchDims + q...]`).
private func ndOffsets(data: [Int], indices: Tensor, batchDims b: Int, ctx: OpContext) throws -> ([Int], Int, [Int]) {
    guard indices.rank >= 1, let q = indices.shape.last, b >= 0, b < indices.rank, b + q <= data.count,
          data[..<b] == indices.shape[..<b] else {
        throw ctx.failure("indices \(indices.shape) do not address data \(data) with batch_dims \(b)")
    }
    guard indices.elementType == .int64 || indices.elementType == .int32 else {
        throw ctx.failure("indices must be int32 or int64, got \(indices.elementType)")
    }
    let raw = indices.int64Values()
    let strides = contiguousStrides(data)
    let slice = data[(b + q)...].reduce(1, *)
    let batchSize = data[b...].reduce(1, *)
    let tuples = q == 0 ? indices.elementCount == 0 ? 0 : indices.shape.dropLast().reduce(1, *) : raw.count / q
    let perBatch = max(1, indices.shape[b..<(indices.rank - 1)].reduce(1, *))
    var offsets = [Int](repeating: 0, count: tuples)
    for t in 0..<tuples {
        var off = (t / perBatch) * batchSize
        for j in 0..<q {
            let dim = data[b + j], v = raw[t * q + j]
            let n = v < 0 ? v + Int64(dim) : v
            guard n >= 0, n < Int64(dim) else { throw ctx.failure("index \(v) out of range [-\(dim), \(dim)) on axis \(b + j)") }
            off += Int(n) * strides[b + j]
        }
        offsets[t] = off
    }
    return (offsets, slice, Array(indices.shape.dropLast()) + Array(data[(b + q)...]))
}

// MARK: scatter

/// A copy of `x` with `updates` (runs of `slice` elements) written or combined at `offsets`, in order.
private func scatter(_ x: Tensor, _ updates: Tensor, offsets: [Int], slice: Int, ctx: OpContext) throws -> Tensor {
    guard updates.elementType == x.elementType else { throw ctx.failure("updates type \(updates.elementType) != \(x.elementType)") }
    let reduction = ctx.string("reduction", default: "none")
    if x.elementType == .string {
        guard reduction == "none" else { throw ctx.unsupported("reduction \(reduction) on strings") }
        var strings = x.strings
        for (k, o) in offsets.enumerated() { for e in 0..<slice { strings[o + e] = updates.strings[k * slice + e] } }
        return Tensor(elementType: .string, shape: x.shape, storage: TensorStorage(zeroed: 0), strings: strings)
    }
    let out = try copied(x, ctx: ctx)
    let es = try elementSize(x, ctx: ctx)
    let dst = out.storage.mutableBaseAddress, src = updates.storage.baseAddress
    if reduction == "none" {
        for (k, o) in offsets.enumerated() { (dst + o * es).copyMemory(from: src + k * slice * es, byteCount: slice * es) }
        return out
    }
    guard ["add", "mul", "max", "min"].contains(reduction) else { throw ctx.unsupported("reduction '\(reduction)'") }
    try dispatchNumeric(x.elementType, ScatterReduceVisitor(out: out, updates: updates, offsets: offsets, slice: slice,
                                                            reduction: reduction), ctx: ctx)
    return out
}

private struct ScatterReduceVisitor: NumericVisitor {
    let out: Tensor, updates: Tensor, offsets: [Int], slice: Int, reduction: String

    func visit<T: NumericElement>(_: T.Type) throws {
        let d = mutableElements(out, T.self), u = elements(updates, T.self)
        let combine: (T, T) -> T
        switch reduction {
        case "add": combine = T.plus
        case "mul": combine = T.times
        case "max": combine = { Swift.max($0, $1) }
        default: combine = { Swift.min($0, $1) }
        }
        for (k, o) in offsets.enumerated() {
            for e in 0..<slice { d[o + e] = combine(d[o + e], u[k * slice + e]) }
        }
    }
}

// MARK: OneHot

private func oneHot(_ ctx: OpContext) throws -> [Tensor] {
    let indices = try ctx.input(0), depthT = try ctx.input(1), values = try ctx.input(2)
    let depthValues: [Double] = depthT.elementType.isInteger ? depthT.int64Values().map { Double($0) }
                                                             : depthT.floatValues().map { Double($0) }
    guard depthValues.count == 1, depthValues[0].isFinite, depthValues[0] >= 1, depthValues[0] < 1e9 else {
        throw ctx.failure("invalid depth \(depthValues)")
    }
    let depthValue = depthValues[0]
    let depth = Int(depthValue)
    guard values.elementCount == 2 else { throw ctx.failure("values must hold [off, on]") }
    let rank = indices.rank + 1
    let axis = try normalizedAxes([ctx.int("axis", default: -1)], rank: rank, ctx: ctx)[0]
    let idx: [Int64] = indices.elementType.isInteger ? indices.int64Values()
                                                     : indices.floatValues().map { $0.isFinite ? Int64.fromDouble(Double($0)) : Int64.min }
    var shape = indices.shape
    shape.insert(depth, at: axis)
    return try mappingStrings([values], ctx: ctx) { t in
        let v = t[0]
        let es = try elementSize(v, ctx: ctx)
        let out = try ctx.allocate(v.elementType, shape)
        let inner = indices.shape[axis...].reduce(1, *), outer = indices.shape[..<axis].reduce(1, *)
        let dst = out.storage.mutableBaseAddress, off = v.storage.baseAddress, on = off + es
        stridedCopy(src: off, srcStrides: [0], shape: [out.elementCount], elementSize: es, dst: dst)
        for o in 0..<outer {
            for i in 0..<inner {
                var d = idx[o * inner + i]
                if d < 0 { d += Int64(depth) }
                guard d >= 0, d < Int64(depth) else { continue }
                (dst + ((o * depth + Int(d)) * inner + i) * es).copyMemory(from: on, byteCount: es)
            }
        }
        return [out]
    }
}

// MARK: visitors

private struct NonZeroVisitor: NumericVisitor {
    let x: Tensor
    func visit<T: NumericElement>(_: T.Type) throws -> [Int] {
        let p = elements(x, T.self)
        return (0..<x.elementCount).filter { p[$0] != T.zeroValue || p[$0].isNaNValue }
    }
}

/// The `k` best of `0..<n` under the strict total order `ranksBefore`, best first: a bounded heap with the worst
/// kept candidate on top (O(n log k)) when k is small, a full sort otherwise.
func selectTop(_ k: Int, of n: Int, ranksBefore: (Int, Int) -> Bool) -> [Int] {
    if k == 0 { return [] }
    if k * 8 >= n { return Array((0..<n).sorted(by: ranksBefore).prefix(k)) }
    var heap: [Int] = []
    heap.reserveCapacity(k)
    func siftDown(_ start: Int) {
        var p = start
        while true {
            let l = 2 * p + 1, r = l + 1
            var worst = p
            if l < heap.count && ranksBefore(heap[worst], heap[l]) { worst = l }
            if r < heap.count && ranksBefore(heap[worst], heap[r]) { worst = r }
            if worst == p { return }
            heap.swapAt(p, worst)
            p = worst
        }
    }
    for j in 0..<n {
        if heap.count < k {
            heap.append(j)
            var c = heap.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                guard ranksBefore(heap[p], heap[c]) else { break }
                heap.swapAt(p, c)
                c = p
            }
        } else if ranksBefore(j, heap[0]) {
            heap[0] = j
            siftDown(0)
        }
    }
    return heap.sorted(by: ranksBefore)
}

/// NaN-aware strict ordering: NaN is above every number and equal to itself.
@inline(__always)
private func isGreater<T: NumericElement>(_ a: T, _ b: T) -> Bool {
    if a.isNaNValue { return !b.isNaNValue }
    if b.isNaNValue { return false }
    return a > b
}

/// CumSum / CumProd (exclusive: element j gets the combination of the elements before it; the identity first).
private struct CumulativeVisitor: NumericVisitor {
    let x: Tensor, axis: Int, product: Bool, exclusive: Bool, reverse: Bool, ctx: OpContext

    func visit<T: NumericElement>(_: T.Type) throws -> Tensor {
        let out = try ctx.allocate(x.elementType, x.shape)
        guard x.rank > 0 else {
            out.storage.mutableBaseAddress.copyMemory(from: x.storage.baseAddress, byteCount: x.byteCount)
            return out
        }
        let s = elements(x, T.self), d = mutableElements(out, T.self)
        let n = x.shape[axis], outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        let identity = product ? T.fromDouble(1) : T.zeroValue
        let combine: (T, T) -> T = product ? T.times : T.plus
        var acc = [T](repeating: identity, count: inner)
        for o in 0..<outer {
            for i in 0..<inner { acc[i] = identity }
            for step in 0..<n {
                let j = reverse ? n - 1 - step : step
                let base = (o * n + j) * inner
                for i in 0..<inner {
                    let v = s[base + i]
                    if exclusive {
                        d[base + i] = acc[i]
                        acc[i] = combine(acc[i], v)
                    } else {
                        acc[i] = combine(acc[i], v)
                        d[base + i] = acc[i]
                    }
                }
            }
        }
        return out
    }
}

private struct TopKVisitor: NumericVisitor {
    let x: Tensor, axis: Int, k: Int, largest: Bool, ctx: OpContext

    func visit<T: NumericElement>(_: T.Type) throws -> [Tensor] {
        var shape = x.shape
        shape[axis] = k
        let values = try ctx.allocate(x.elementType, shape), indices = try ctx.allocate(.int64, shape)
        let s = elements(x, T.self), dv = mutableElements(values, T.self), di = mutableElements(indices, Int64.self)
        let n = x.shape[axis], outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        let largest = self.largest
        var order: [Int] = []
        var column = [T](repeating: T.zeroValue, count: n)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                for j in 0..<n { column[j] = s[base + j * inner] }
                // Total order: by value (largest or smallest first), ties by lower index.
                func ranksBefore(_ a: Int, _ b: Int) -> Bool {
                    let va = column[a], vb = column[b]
                    if largest ? isGreater(va, vb) : isGreater(vb, va) { return true }
                    if largest ? isGreater(vb, va) : isGreater(va, vb) { return false }
                    return a < b
                }
                order = selectTop(k, of: n, ranksBefore: ranksBefore)
                for j in 0..<k {
                    let at = (o * k + j) * inner + i
                    dv[at] = column[order[j]]
                    di[at] = Int64(order[j])
                }
            }
        }
        return [values, indices]
    }
}

private struct ArgExtremeVisitor: NumericVisitor {
    let x: Tensor, axis: Int, isMax: Bool, keepDims: Bool, last: Bool, ctx: OpContext

    func visit<T: NumericElement>(_: T.Type) throws -> Tensor {
        let n = x.rank == 0 ? 1 : x.shape[axis]
        guard n > 0 else { throw ctx.failure("\(ctx.node.opType) over an empty axis") }
        var shape = x.shape
        if x.rank > 0 { if keepDims { shape[axis] = 1 } else { shape.remove(at: axis) } }
        let out = try ctx.allocate(.int64, shape)
        let s = elements(x, T.self), d = mutableElements(out, Int64.self)
        let outer = x.rank == 0 ? 1 : x.shape[..<axis].reduce(1, *)
        let inner = x.rank == 0 ? 1 : x.shape[(axis + 1)...].reduce(1, *)
        // j outer, i inner: contiguous rows of `inner` elements, best value and index per column.
        var bestValues = [T](repeating: T.zeroValue, count: inner)
        for o in 0..<outer {
            let base = o * n * inner
            for i in 0..<inner {
                bestValues[i] = s[base + i]
                d[o * inner + i] = 0
            }
            for j in 1..<max(1, n) {
                let row = base + j * inner
                for i in 0..<inner {
                    let v = s[row + i], best = bestValues[i]
                    let better = isMax ? isGreater(v, best) : isGreater(best, v)
                    if better || (last && !isGreater(v, best) && !isGreater(best, v)) {
                        bestValues[i] = v
                        d[o * inner + i] = Int64(j)
                    }
                }
            }
        }
        return out
    }
}

// MARK: Unique

/// ONNX Unique: distinct elements (or slices along `axis`), sorted ascending (lexicographically for slices) or in
/// order of first occurrence; plus first-occurrence indices, inverse indices and counts.
func unique(_ ctx: OpContext) throws -> [Tensor] {
    var x = try ctx.input(0)
    var axis = 0
    if ctx.node.attribute("axis") != nil {
        axis = try normalizedAxes([ctx.int("axis", default: 0)], rank: x.rank, ctx: ctx)[0]
    } else {
        x = reshaped(x, [x.elementCount])
    }
    let groups = try dispatchNumeric(x.elementType, UniqueVisitor(x: x, axis: axis,
                                                                   sorted: ctx.int("sorted", default: 1) != 0), ctx: ctx)
    let y = try gathered(x, axis: axis, indices: groups.first.map { Int64($0) }, ctx: ctx)
    return [y, Tensor(int64s: groups.first.map { Int64($0) }, shape: [groups.first.count]),
            Tensor(int64s: groups.inverse.map { Int64($0) }, shape: [groups.inverse.count]),
            Tensor(int64s: groups.counts.map { Int64($0) }, shape: [groups.counts.count])]
}

private struct UniqueGroups {
    var first: [Int] = [], inverse: [Int] = [], counts: [Int] = []
}

private struct UniqueVisitor: NumericVisitor {
    let x: Tensor, axis: Int, sorted: Bool

    func visit<T: NumericElement>(_: T.Type) throws -> UniqueGroups {
        let p = elements(x, T.self)
        let n = x.shape[axis], outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        let slices: [[T]] = (0..<n).map { s in
            var v: [T] = []
            v.reserveCapacity(outer * inner)
            for o in 0..<outer { for i in 0..<inner { v.append(p[(o * n + s) * inner + i]) } }
            return v
        }
        func less(_ a: [T], _ b: [T]) -> Bool {
            for (u, v) in zip(a, b) where isGreater(u, v) || isGreater(v, u) { return isGreater(v, u) }
            return false
        }
        let order = (0..<n).sorted { a, b in less(slices[a], slices[b]) || (!less(slices[b], slices[a]) && a < b) }
        var groupOf = [Int](repeating: 0, count: n)
        var firsts: [Int] = [], counts: [Int] = []
        for (k, s) in order.enumerated() {
            if k > 0 && !less(slices[order[k - 1]], slices[s]) {
                counts[counts.count - 1] += 1
            } else {
                firsts.append(s)
                counts.append(1)
            }
            groupOf[s] = firsts.count - 1
        }
        var rank = Array(0..<firsts.count)
        if !sorted { rank.sort { firsts[$0] < firsts[$1] } }
        var position = [Int](repeating: 0, count: firsts.count)
        for (k, g) in rank.enumerated() { position[g] = k }
        return UniqueGroups(first: rank.map { firsts[$0] }, inverse: groupOf.map { position[$0] },
                            counts: rank.map { counts[$0] })
    }
}
