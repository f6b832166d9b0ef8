import IR
import Kernels

/// Ops that move elements without arithmetic: Transpose, Concat, Split, Slice, Pad, Expand, Tile, Compress,
/// ReverseSequence, CenterCropPad, TensorScatter.
///
/// All run on the element-size-generic kernels (strided copy, concat/split, gather, pad), so every fixed-width dtype
/// shares one code path; string tensors run the same kernels on int64 indices into their string table.
/// Semantics per the ONNX spec across opsets: Split's sizes come from the `split` attribute (< 13), the second input
/// (≥ 13) or `num_outputs` (≥ 18, last chunk smaller); Slice takes attributes (< 10) or inputs, clamping starts/ends
/// like numpy (negative steps walk backwards); Pad takes `pads`/`value` attributes (< 11) or inputs, with `axes`
/// from opset 18, and negative pads crop.
func registerDataMovementOps(_ r: inout OpRegistry) {
    r.register("Transpose") { ctx in
        let x = try ctx.input(0)
        let perm = ctx.ints("perm") ?? Array((0..<x.rank).reversed())
        guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
            throw ctx.failure("perm \(perm) is not a permutation of 0..<\(x.rank)")
        }
        if perm == Array(0..<x.rank) { return [x] }
        return try mappingStrings([x], ctx: ctx) { t in
            let x = t[0]
            let es = try elementSize(x, ctx: ctx)
            let out = try ctx.allocate(x.elementType, perm.map { x.shape[$0] })
            transpose(src: x.storage.baseAddress, shape: x.shape, perm: perm, elementSize: es,
                      dst: out.storage.mutableBaseAddress)
            return [out]
        }
    }
    r.register("Concat") { ctx in
        let parts = try (0..<ctx.inputs.count).map { try ctx.input($0) }
        return try mappingStrings(parts, ctx: ctx) { parts in [try concatenate(parts, ctx: ctx)] }
    }
    r.register("Split") { ctx in try split(ctx) }
    r.register("Slice") { ctx in try slice(ctx) }
    r.register("Pad") { ctx in try pad(ctx) }
    r.register("Expand") { ctx in
        let x = try ctx.input(0)
        let requested = try indexValues(try ctx.input(1), ctx: ctx)
        let shape = try broadcastShape(x.shape, requested, ctx: ctx)
        return try mappingStrings([x], ctx: ctx) { t in
            let x = t[0]
            let out = try ctx.allocate(x.elementType, shape)
            expand(src: x.storage.baseAddress, shape: x.shape, outShape: shape, elementSize: try elementSize(x, ctx: ctx),
                   dst: out.storage.mutableBaseAddress)
            return [out]
        }
    }
    r.register("Tile") { ctx in
        let x = try ctx.input(0)
        let repeats = try indexValues(try ctx.input(1), ctx: ctx)
        guard repeats.count == x.rank, repeats.allSatisfy({ $0 >= 0 }),
              checkedElementCount(zip(x.shape, repeats).map { $0.multipliedReportingOverflow(by: $1).overflow ? -1 : $0 * $1 }) != nil else {
            throw ctx.failure("repeats \(repeats) must be \(x.rank) non-negative values of a representable size")
        }
        return try mappingStrings([x], ctx: ctx) { t in
            let x = t[0]
            let out = try ctx.allocate(x.elementType, zip(x.shape, repeats).map { $0 * $1 })
            tile(src: x.storage.baseAddress, shape: x.shape, repeats: repeats, elementSize: try elementSize(x, ctx: ctx),
                 dst: out.storage.mutableBaseAddress)
            return [out]
        }
    }
    r.register("ReverseSequence") { ctx in try reverseSequence(ctx) }
    r.register("CenterCropPad") { ctx in try centerCropPad(ctx) }
    r.register("TensorScatter") { ctx in try tensorScatter(ctx) }
    r.register("Compress") { ctx in
        var x = try ctx.input(0)
        let condition = try ctx.input(1)
        guard condition.rank == 1 else { throw ctx.failure("condition must be 1-D, has shape \(condition.shape)") }
        var axis = 0
        if ctx.node.attribute("axis") != nil {
            axis = try normalizedAxes([ctx.int("axis", default: 0)], rank: x.rank, ctx: ctx)[0]
        } else {
            x = reshaped(x, [x.elementCount])
        }
        let length = x.shape[axis]
        let flags = condition.int64Values()
        guard flags.count <= length else { throw ctx.failure("condition has \(flags.count) entries for axis of \(length)") }
        let kept = flags.indices.filter { flags[$0] != 0 }.map { Int64($0) }
        return try mappingStrings([x], ctx: ctx) { t in [try gathered(t[0], axis: axis, indices: kept, ctx: ctx)] }
    }
}

// MARK: shared helpers

/// Bytes per element; packed sub-byte types and strings have none.
func elementSize(_ t: Tensor, ctx: OpContext) throws -> Int {
    let bits = t.elementType.bitWidth
    guard bits >= 8, bits % 8 == 0 else { throw ctx.unsupported("element type \(t.elementType) for \(ctx.node.opType)") }
    return bits / 8
}

/// Runs a pure data-movement `body` on string tensors by replacing each string input with int64 indices into one
/// combined string table and mapping the (int64) outputs back. Non-string inputs pass through.
func mappingStrings(_ inputs: [Tensor], ctx: OpContext, _ body: ([Tensor]) throws -> [Tensor]) throws -> [Tensor] {
    guard inputs.contains(where: { $0.elementType == .string }) else { return try body(inputs) }
    guard inputs.allSatisfy({ $0.elementType == .string }) else { throw ctx.failure("mixes string and other inputs") }
    var table: [[UInt8]] = []
    var indexed: [Tensor] = []
    for t in inputs {
        guard t.strings.count == t.elementCount else { throw ctx.failure("string tensor has wrong element count") }
        indexed.append(Tensor(int64s: (0..<t.elementCount).map { Int64(table.count + $0) }, shape: t.shape))
        table += t.strings
    }
    return try body(indexed).map { out in
        let strings = out.int64Values().map { table[Int($0)] }
        return Tensor(elementType: .string, shape: out.shape, storage: TensorStorage(zeroed: 0), strings: strings)
    }
}

/// numpy bidirectional broadcast of two shapes.
func broadcastShape(_ a: [Int], _ b: [Int], ctx: OpContext) throws -> [Int] {
    let rank = max(a.count, b.count)
    return try (0..<rank).map { i in
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard da == db || da == 1 || db == 1, da >= 0, db >= 0 else {
            throw ctx.failure("shapes \(a) and \(b) do not broadcast")
        }
        return da == 1 ? db : da
    }
}

/// `x` gathered along `axis` at already validated, non-negative `indices` (copies whole inner rows).
func gathered(_ x: Tensor, axis: Int, indices: [Int64], indexShape: [Int]? = nil, ctx: OpContext) throws -> Tensor {
    let es = try elementSize(x, ctx: ctx)
    let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
    let out = try ctx.allocate(x.elementType, Array(x.shape[..<axis]) + (indexShape ?? [indices.count])
                                   + Array(x.shape[(axis + 1)...]))
    guard out.elementCount > 0 else { return out }
    indices.withUnsafeBufferPointer { idx in
        gather(src: x.storage.baseAddress, outer: outer, axisLength: x.shape[axis], inner: inner, indices: idx,
               elementSize: es, dst: out.storage.mutableBaseAddress)
    }
    return out
}

/// Concat of equal-rank tensors along the `axis` attribute.
private func concatenate(_ parts: [Tensor], ctx: OpContext) throws -> Tensor {
    guard let first = parts.first else { throw ctx.failure("Concat needs at least one input") }
    guard ctx.node.attribute("axis") != nil else { throw ctx.failure("attribute 'axis' is required") }
    let axis = try normalizedAxes([ctx.int("axis", default: 0)], rank: first.rank, ctx: ctx)[0]
    for p in parts {
        guard p.elementType == first.elementType, p.rank == first.rank,
              p.shape.indices.allSatisfy({ $0 == axis || p.shape[$0] == first.shape[$0] }) else {
            throw ctx.failure("input of \(p.elementType)\(p.shape) does not concatenate with \(first.elementType)\(first.shape)")
        }
    }
    var shape = first.shape
    shape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
    let out = try ctx.allocate(first.elementType, shape)
    guard out.elementCount > 0 else { return out }
    let es = try elementSize(first, ctx: ctx)
    concat(inputs: parts.map { $0.storage.baseAddress }, axisSizes: parts.map { $0.shape[axis] },
           outer: shape[..<axis].reduce(1, *), inner: shape[(axis + 1)...].reduce(1, *), elementSize: es,
           dst: out.storage.mutableBaseAddress)
    return out
}

private func split(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.input(0)
    let axis = try normalizedAxes([ctx.int("axis", default: 0)], rank: x.rank, ctx: ctx)[0]
    let dim = x.shape[axis]
    let count = ctx.node.outputs.count
    var sizes: [Int]
    if ctx.opset < 13, let given = ctx.ints("split") {
        sizes = given
    } else if ctx.opset >= 13, let given = ctx.optionalInput(1) {
        sizes = try indexValues(given, ctx: ctx)
    } else {
        let parts = ctx.opset >= 18 ? ctx.int("num_outputs", default: count) : count
        guard parts > 0 else { throw ctx.failure("cannot split into \(parts) parts") }
        // Opset 18: ceil-sized chunks, the last one smaller; earlier opsets require an even split.
        let chunk = (dim + parts - 1) / parts
        guard ctx.opset >= 18 || dim % parts == 0 else { throw ctx.failure("axis of \(dim) does not split evenly into \(parts)") }
        sizes = (0..<parts).map { max(0, min(chunk, dim - $0 * chunk)) }
    }
    guard sizes.count == count, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == dim else {
        throw ctx.failure("split sizes \(sizes) do not partition axis of \(dim) into \(count) outputs")
    }
    return try mappingStrings([x], ctx: ctx) { t in
        let x = t[0]
        let outputs = try sizes.map { size -> Tensor in
            var shape = x.shape
            shape[axis] = size
            return try ctx.allocate(x.elementType, shape)
        }
        guard x.elementCount > 0 else { return outputs }
        Kernels.split(src: x.storage.baseAddress, outer: x.shape[..<axis].reduce(1, *), axisSizes: sizes,
                      inner: x.shape[(axis + 1)...].reduce(1, *), elementSize: try elementSize(x, ctx: ctx),
                      outputs: outputs.map { $0.storage.mutableBaseAddress })
        return outputs
    }
}

/// Resolved slice of one axis: first index, step and element count.
struct AxisSlice: Equatable {
    var start: Int, step: Int, count: Int
}

/// numpy/ONNX slice resolution: negative starts/ends count from the end, then clamp to [0, dim] (forward) or
/// [-1, dim-1] (backward).
func resolveSlice(start: Int, end: Int, step: Int, dim: Int) -> AxisSlice {
    var s = start < 0 ? start + dim : start
    var e = end < 0 ? end + dim : end
    // Counts are written so that steps near Int.max/Int.min cannot overflow; a step that takes at most one
    // element becomes ±1 so the kernel's stride arithmetic stays small.
    if step > 0 {
        s = min(max(s, 0), dim)
        e = min(max(e, 0), dim)
        let count = e > s ? (e - s - 1) / step + 1 : 0
        return AxisSlice(start: s, step: count > 1 ? step : 1, count: count)
    }
    s = min(max(s, 0), dim - 1)
    e = min(max(e, -1), dim - 1)
    let magnitude = step == Int.min ? Int.max : -step
    let count = s > e ? (s - e - 1) / magnitude + 1 : 0
    return AxisSlice(start: max(s, 0), step: count > 1 ? step : -1, count: count)
}

private func slice(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.input(0)
    let starts: [Int], ends: [Int], axesGiven: [Int]?, steps: [Int]?
    if ctx.opset < 10 {
        starts = ctx.ints("starts") ?? []
        ends = ctx.ints("ends") ?? []
        axesGiven = ctx.ints("axes")
        steps = nil
    } else {
        starts = try indexValues(try ctx.input(1), ctx: ctx)
        ends = try indexValues(try ctx.input(2), ctx: ctx)
        axesGiven = try ctx.optionalInput(3).map { try indexValues($0, ctx: ctx) }
        steps = try ctx.optionalInput(4).map { try indexValues($0, ctx: ctx) }
    }
    let axes = try normalizedAxes(axesGiven ?? Array(0..<starts.count), rank: x.rank, ctx: ctx)
    guard ends.count == starts.count, axes.count == starts.count, (steps?.count ?? starts.count) == starts.count,
          Set(axes).count == axes.count else {
        throw ctx.failure("starts/ends/axes/steps have inconsistent lengths or repeated axes")
    }
    var plan = x.shape.map { AxisSlice(start: 0, step: 1, count: $0) }
    for (k, axis) in axes.enumerated() {
        let step = steps?[k] ?? 1
        guard step != 0 else { throw ctx.failure("slice step is zero") }
        plan[axis] = resolveSlice(start: starts[k], end: ends[k], step: step, dim: x.shape[axis])
    }
    if plan.indices.allSatisfy({ plan[$0] == AxisSlice(start: 0, step: 1, count: x.shape[$0]) }) { return [x] }
    return try mappingStrings([x], ctx: ctx) { t in
        let x = t[0]
        let out = try ctx.allocate(x.elementType, plan.map(\.count))
        guard out.elementCount > 0 else { return [out] }
        Kernels.slice(src: x.storage.baseAddress, shape: x.shape, starts: plan.map(\.start), steps: plan.map(\.step),
                      outShape: plan.map(\.count), elementSize: try elementSize(x, ctx: ctx),
                      dst: out.storage.mutableBaseAddress)
        return [out]
    }
}

private func pad(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.input(0)
    let mode: PadMode
    switch ctx.string("mode", default: "constant") {
    case "constant": mode = .constant
    case "reflect": mode = .reflect
    case "edge": mode = .edge
    case "wrap": mode = .wrap
    case let other: throw ctx.unsupported("pad mode '\(other)'")
    }
    var pads: [Int]
    var constant: Tensor?
    var axes = Array(0..<x.rank)
    if ctx.opset < 11 {
        pads = ctx.ints("pads") ?? ctx.ints("paddings") ?? []
        constant = try convert(Tensor(scalar: ctx.float("value", default: 0)), to: x.elementType, ctx: ctx)
    } else {
        pads = try indexValues(try ctx.input(1), ctx: ctx)
        constant = ctx.optionalInput(2)
        if let given = ctx.optionalInput(3) { axes = try normalizedAxes(try indexValues(given, ctx: ctx), rank: x.rank, ctx: ctx) }
    }
    guard pads.count == 2 * axes.count, Set(axes).count == axes.count else {
        throw ctx.failure("pads \(pads) do not match \(axes.count) axes")
    }
    var begin = [Int](repeating: 0, count: x.rank), end = begin
    for (k, a) in axes.enumerated() {
        begin[a] = pads[k]
        end[a] = pads[k + axes.count]
        let (partial, overflow1) = x.shape[a].addingReportingOverflow(begin[a])
        let (size, overflow2) = partial.addingReportingOverflow(end[a])
        guard !overflow1, !overflow2, size >= 0, size < 1 << 40 else {
            throw ctx.failure("pads \(pads) give an invalid size on axis \(a)")
        }
        if mode != .constant && x.shape[a] == 0 && begin[a] + end[a] > 0 {
            throw ctx.failure("cannot \(mode)-pad empty axis \(a)")
        }
    }
    var inputs = [x]
    if let c = constant, c.elementCount > 0 {
        guard c.elementType == x.elementType else { throw ctx.failure("constant_value type \(c.elementType) != \(x.elementType)") }
        inputs.append(c)
    } else if x.elementType == .string {
        inputs.append(Tensor(elementType: .string, shape: [], storage: TensorStorage(zeroed: 0), strings: [[]]))
    }
    return try mappingStrings(inputs, ctx: ctx) { t in
        let x = t[0]
        let es = try elementSize(x, ctx: ctx)
        let out = try ctx.allocate(x.elementType, (0..<x.rank).map { x.shape[$0] + begin[$0] + end[$0] })
        guard out.elementCount > 0 else { return [out] }
        var zero = [UInt8](repeating: 0, count: es)
        if t.count > 1 { zero.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: t[1].storage.baseAddress, count: es)) } }
        zero.withUnsafeBytes { value in
            guard let value = value.baseAddress else { return }
            Kernels.pad(src: x.storage.baseAddress, shape: x.shape, padsBegin: begin, padsEnd: end, mode: mode,
                        constant: value, elementSize: es, dst: out.storage.mutableBaseAddress)
        }
        return [out]
    }
}

// MARK: ReverseSequence, CenterCropPad, TensorScatter

/// ReverseSequence: for batch b, the first `sequence_lens[b]` entries along `time_axis` are reversed.
func reverseSequence(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.input(0)
    guard x.rank >= 2 else { throw ctx.failure("ReverseSequence needs rank ≥ 2") }
    let batchAxis = try normalizedAxes([ctx.int("batch_axis", default: 1)], rank: x.rank, ctx: ctx)[0]
    let timeAxis = try normalizedAxes([ctx.int("time_axis", default: 0)], rank: x.rank, ctx: ctx)[0]
    guard batchAxis != timeAxis, batchAxis < 2, timeAxis < 2 else { throw ctx.failure("batch_axis/time_axis must be 0 and 1") }
    let lengths = try indexValues(try ctx.input(1), ctx: ctx)
    let time = x.shape[timeAxis]
    guard lengths.count == x.shape[batchAxis], lengths.allSatisfy({ $0 >= 0 && $0 <= time }) else {
        throw ctx.failure("sequence_lens \(lengths) do not fit batch \(x.shape[batchAxis]) × time \(time)")
    }
    let inner = x.shape[2...].reduce(1, *)
    var offsets: [Int] = []
    offsets.reserveCapacity(x.shape[0] * x.shape[1])
    for i in 0..<x.shape[0] {
        for j in 0..<x.shape[1] {
            let (b, t) = batchAxis == 0 ? (i, j) : (j, i)
            let source = t < lengths[b] ? lengths[b] - 1 - t : t
            let (si, sj) = batchAxis == 0 ? (b, source) : (source, b)
            offsets.append((si * x.shape[1] + sj) * inner)
        }
    }
    return try mappingStrings([x], ctx: ctx) { t in
        let out = try ctx.allocate(t[0].elementType, x.shape)
        gatherRuns(t[0].storage.baseAddress, offsets: offsets, length: inner, elementSize: try elementSize(t[0], ctx: ctx),
                   dst: out.storage.mutableBaseAddress)
        return [out]
    }
}

/// CenterCropPad: each listed axis is center-cropped or zero-padded to the requested size (the odd element goes
/// to the end), i.e. Pad with begin = floor((target - dim) / 2), negative when cropping.
func centerCropPad(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.input(0)
    let target = try indexValues(try ctx.input(1), ctx: ctx)
    let axes = try normalizedAxes(ctx.ints("axes") ?? Array(0..<x.rank), rank: x.rank, ctx: ctx)
    guard target.count == axes.count, target.allSatisfy({ $0 >= 0 }) else {
        throw ctx.failure("shape \(target) does not match axes \(axes)")
    }
    var begin = [Int](repeating: 0, count: x.rank), end = begin
    for (k, a) in axes.enumerated() {
        let difference = target[k] - x.shape[a]
        begin[a] = difference >= 0 ? difference / 2 : -((-difference) / 2)
        end[a] = difference - begin[a]
    }
    return try mappingStrings([x], ctx: ctx) { t in
        let es = try elementSize(t[0], ctx: ctx)
        let out = try ctx.allocate(t[0].elementType, (0..<x.rank).map { x.shape[$0] + begin[$0] + end[$0] })
        guard out.elementCount > 0 else { return [out] }
        let zero = [UInt8](repeating: 0, count: es)
        zero.withUnsafeBytes { value in
            guard let value = value.baseAddress else { return }
            Kernels.pad(src: t[0].storage.baseAddress, shape: x.shape, padsBegin: begin, padsEnd: end, mode: .constant,
                        constant: value, elementSize: es, dst: out.storage.mutableBaseAddress)
        }
        return [out]
    }
}

/// TensorScatter (KV-cache update): batch b's `update` rows along `axis` are written into a copy of `past_cache`
/// starting at `write_indices[b]` (0 when absent); `circular` mode wraps around the cache length.
func tensorScatter(_ ctx: OpContext) throws -> [Tensor] {
    let cache = try ctx.input(0), update = try ctx.input(1)
    guard cache.rank >= 2, update.rank == cache.rank, update.elementType == cache.elementType else {
        throw ctx.failure("update \(update.shape) does not match cache \(cache.shape)")
    }
    let axis = try normalizedAxes([ctx.int("axis", default: -2)], rank: cache.rank, ctx: ctx)[0]
    guard axis >= 1, cache.shape.indices.allSatisfy({ $0 == axis || cache.shape[$0] == update.shape[$0] }) else {
        throw ctx.failure("update \(update.shape) does not match cache \(cache.shape) on axis \(axis)")
    }
    let batch = cache.shape[0], length = cache.shape[axis], count = update.shape[axis]
    var starts = [Int](repeating: 0, count: batch)
    if let w = ctx.optionalInput(2) {
        starts = try indexValues(w, ctx: ctx)
        guard starts.count == batch else { throw ctx.failure("write_indices has \(starts.count) entries for batch \(batch)") }
    }
    let circular = ctx.string("mode", default: "linear") == "circular"
    let mid = cache.shape[1..<axis].reduce(1, *), inner = cache.shape[(axis + 1)...].reduce(1, *)
    let out = try copied(cache, ctx: ctx)
    let es = try elementSize(cache, ctx: ctx), rowBytes = inner * es
    let dst = out.storage.mutableBaseAddress, src = update.storage.baseAddress
    for b in 0..<batch {
        for u in 0..<count {
            // Reduce the start first so start + u cannot overflow.
            let start = circular && length > 0 ? ((starts[b] % length) + length) % length : starts[b]
            guard start <= Int.max - count else { throw ctx.failure("write index \(starts[b]) out of range") }
            var position = start + u
            if circular && length > 0 { position %= length }
            guard position >= 0, position < length else {
                throw ctx.failure("write index \(starts[b]) + \(u) out of range for cache length \(length)")
            }
            for m in 0..<mid {
                (dst + ((b * mid + m) * length + position) * rowBytes)
                    .copyMemory(from: src + ((b * mid + m) * count + u) * rowBytes, byteCount: rowBytes)
            }
        }
    }
    return [out]
}
