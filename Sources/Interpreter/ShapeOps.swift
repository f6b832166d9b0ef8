import IR

/// Ops that only change metadata or build small index tensors: Identity, Dropout (inference; training mode with a
/// seeded numpy mask), Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, ConstantOfShape, Range. Reshapes share
/// storage with their input (no copy).
func registerShapeOps(_ r: inout OpRegistry) {
    r.register("Identity") { ctx in [try ctx.input(0)] }
    r.register("Dropout") { ctx in try dropout(ctx) }
    r.register("Shape") { ctx in
        let x = try ctx.input(0)
        let rank = x.rank
        var start = ctx.int("start", default: 0)
        var end = ctx.int("end", default: rank)
        if start < 0 { start += rank }
        if end < 0 { end += rank }
        start = min(max(start, 0), rank)
        end = min(max(end, start), rank)
        let dims = x.shape[start..<end].map { Int64($0) }
        return [Tensor(int64s: dims, shape: [dims.count])]
    }
    r.register("Size") { ctx in [Tensor(int64s: [Int64(try ctx.input(0).elementCount)], shape: [])] }
    r.register("Reshape") { ctx in
        let x = try ctx.input(0)
        let requested: [Int]
        if ctx.opset < 5 {
            requested = ctx.ints("shape") ?? []
        } else {
            requested = try indexValues(try ctx.input(1), ctx: ctx)
        }
        let shape = try reshapeTarget(requested, input: x.shape, allowZero: ctx.int("allowzero", default: 0) != 0, ctx: ctx)
        return [reshaped(x, shape)]
    }
    r.register("Flatten") { ctx in
        let x = try ctx.input(0)
        var axis = ctx.int("axis", default: 1)
        if axis < 0 { axis += x.rank }
        guard axis >= 0, axis <= x.rank else { throw ctx.failure("axis \(axis) out of range for rank \(x.rank)") }
        let outer = x.shape[..<axis].reduce(1, *)
        return [reshaped(x, [outer, x.shape[axis...].reduce(1, *)])]
    }
    r.register("Squeeze") { ctx in
        let x = try ctx.input(0)
        let given: [Int]? = ctx.opset >= 13 ? try ctx.optionalInput(1).map { try indexValues($0, ctx: ctx) } : ctx.ints("axes")
        let axes = try given.map { try normalizedAxes($0, rank: x.rank, ctx: ctx) } ?? x.shape.indices.filter { x.shape[$0] == 1 }
        for a in axes where x.shape[a] != 1 { throw ctx.failure("cannot squeeze axis \(a) of size \(x.shape[a])") }
        let shape = x.shape.indices.filter { !axes.contains($0) }.map { x.shape[$0] }
        return [reshaped(x, shape)]
    }
    r.register("Unsqueeze") { ctx in
        let x = try ctx.input(0)
        let given: [Int] = ctx.opset >= 13 ? try indexValues(try ctx.input(1), ctx: ctx) : (ctx.ints("axes") ?? [])
        let rank = x.rank + given.count
        let axes = try normalizedAxes(given, rank: rank, ctx: ctx)
        guard Set(axes).count == axes.count else { throw ctx.failure("repeated axes \(given)") }
        var shape: [Int] = []
        var source = x.shape.makeIterator()
        for a in 0..<rank { shape.append(axes.contains(a) ? 1 : (source.next() ?? 1)) }
        return [reshaped(x, shape)]
    }
    r.register("ConstantOfShape") { ctx in
        let shape = try indexValues(try ctx.input(0), ctx: ctx)
        guard shape.allSatisfy({ $0 >= 0 }) else { throw ctx.failure("negative dims in \(shape)") }
        let fill = ctx.node.attribute("value")?.tensor ?? Tensor(scalar: 0)
        let out = try ctx.allocate(fill.elementType, shape)
        let width = fill.elementType.bitWidth / 8
        let dst = out.storage.mutableBaseAddress
        for i in 0..<out.elementCount {
            dst.advanced(by: i * width).copyMemory(from: fill.storage.baseAddress, byteCount: width)
        }
        return [out]
    }
    r.register("Range") { ctx in
        let start = try ctx.input(0), limit = try ctx.input(1), delta = try ctx.input(2)
        let type = start.elementType
        if type.isInteger {
            let s = start.int64Values().first ?? 0, l = limit.int64Values().first ?? 0, d = delta.int64Values().first ?? 0
            guard d != 0 else { throw ctx.failure("delta is zero") }
            // Exact ceil((l - s) / d) without overflow; a span beyond Int64 is far too large anyway.
            let (span, overflow) = l.subtractingReportingOverflow(s)
            guard !overflow else { throw ctx.failure("range from \(s) to \(l) is too large") }
            let count = d > 0 ? (span > 0 ? (span - 1) / d + 1 : 0) : (span < 0 ? (span + 1) / d + 1 : 0)
            guard count <= 1 << 31 else { throw ctx.failure("range of \(count) elements is too large") }
            let n = Int(count)
            guard n <= 1 << 31 else { throw ctx.failure("range of \(n) elements is too large") }
            let values = (0..<n).map { s + Int64($0) * d }
            return [try castInt64s(values, to: type, shape: [n], ctx: ctx)]
        }
        func scalar(_ t: Tensor) -> Double {
            t.elementType == .double ? (t.scalars(as: Double.self).first ?? 0) : Double(t.floatValues().first ?? 0)
        }
        let s = scalar(start), l = scalar(limit), d = scalar(delta)
        guard d != 0 else { throw ctx.failure("delta is zero") }
        let steps = ((l - s) / d).rounded(.up)
        guard steps.isNaN || steps <= Double(1 << 31) else { throw ctx.failure("range of \(steps) elements is too large") }
        let n = steps.isNaN || steps <= 0 ? 0 : Int(steps)
        guard n <= 1 << 31 else { throw ctx.failure("range of \(n) elements is too large") }
        if type == .double { return [Tensor(.double, shape: [n], values: (0..<n).map { s + Double($0) * d })] }
        let values = (0..<n).map { Float(s + Double($0) * d) }
        let out = Tensor(floats: values, shape: [n])
        return [type == .float ? out : try convert(out, to: type, ctx: ctx)]
    }
}

/// Dropout. Inference (the default, and always before opset 12): output = input, mask all true. Training mode
/// (opset 12+ third input) with ratio r > 0 keeps elements where numpy's `uniform(0, 1) >= r` after
/// `np.random.seed(seed)` and scales them by 1/(1-r), exactly as the ONNX reference does.
private func dropout(_ ctx: OpContext) throws -> [Tensor] {
    let x = try ctx.input(0)
    var ratio: Float = ctx.opset < 12 ? ctx.float("ratio", default: 0.5) : 0.5
    if ctx.opset >= 12, let r = ctx.optionalInput(1) {
        guard let v = r.floatValues().first else { throw ctx.failure("ratio is empty") }
        ratio = v
    }
    var training = false
    if ctx.opset >= 12, let t = ctx.optionalInput(2) {
        guard let v = t.floatValues().first else { throw ctx.failure("training_mode is empty") }
        training = v != 0
    }
    let wantsMask = ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isAbsent
    guard training && ratio > 0 else {
        guard wantsMask else { return [x] }
        let mask = try ctx.allocate(.bool, x.shape)
        if mask.byteCount > 0 { mask.storage.mutableBaseAddress.initializeMemory(as: UInt8.self, repeating: 1, count: mask.byteCount) }
        return [x, mask]
    }
    guard x.elementType == .float else { throw ctx.unsupported("training-mode Dropout on \(x.elementType)") }
    guard ratio < 1 else { throw ctx.failure("ratio \(ratio) must be below 1 in training mode") }
    var random = NumpyRandom(seed: UInt32(truncatingIfNeeded: ctx.int("seed", default: 0)))
    let out = try ctx.allocate(.float, x.shape), mask = try ctx.allocate(.bool, x.shape)
    let scale = 1 / (1 - ratio)
    let src = x.storage.baseAddress, dst = out.storage.mutableBaseAddress, m = mask.storage.mutableBaseAddress
    for i in 0..<x.elementCount {
        let keep = random.nextDouble() >= Double(ratio)
        let v = src.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
        dst.storeBytes(of: keep ? v * scale : 0, toByteOffset: i * 4, as: Float.self)
        m.storeBytes(of: UInt8(keep ? 1 : 0), toByteOffset: i, as: UInt8.self)
    }
    return wantsMask ? [out, mask] : [out]
}

/// The tensor with a new shape over the same storage.
func reshaped(_ x: Tensor, _ shape: [Int]) -> Tensor {
    var y = x
    y.shape = shape
    return y
}

/// Integer tensor contents as Int (shape/axes/indices operands).
func indexValues(_ t: Tensor, ctx: OpContext) throws -> [Int] {
    guard t.elementType.isInteger else { throw ctx.failure("expected an integer tensor, got \(t.elementType)") }
    return t.int64Values().map { Int(clamping: $0) }
}

/// Normalizes possibly negative axes against `rank`, rejecting out-of-range ones.
func normalizedAxes(_ axes: [Int], rank: Int, ctx: OpContext) throws -> [Int] {
    try axes.map { a in
        let n = a < 0 ? a + rank : a
        guard n >= 0, n < rank else {
            throw ctx.failure("axis \(a) out of range for rank \(rank)")
        }
        return n
    }
}

/// Reshape's target: 0 copies the input dim (unless allowzero), -1 is inferred.
func reshapeTarget(_ requested: [Int], input: [Int], allowZero: Bool, ctx: OpContext) throws -> [Int] {
    var shape = requested
    var inferred: Int?
    for (i, d) in requested.enumerated() {
        if d == 0 && !allowZero {
            guard i < input.count else { throw ctx.failure("0 at position \(i) but input has rank \(input.count)") }
            shape[i] = input[i]
        } else if d == -1 {
            guard inferred == nil else { throw ctx.failure("more than one -1 in shape \(requested)") }
            inferred = i
        } else if d < 0 {
            throw ctx.failure("invalid dim \(d) in shape \(requested)")
        }
    }
    guard let total = checkedElementCount(input),
          checkedElementCount(shape.enumerated().map { $0.offset == inferred ? 1 : $0.element }) != nil else {
        throw ctx.failure("cannot reshape \(input) to \(requested)")
    }
    if let i = inferred {
        let known = shape.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
        guard known > 0, total % known == 0 else { throw ctx.failure("cannot reshape \(input) to \(requested)") }
        shape[i] = total / known
    }
    guard shape.reduce(1, *) == total else { throw ctx.failure("cannot reshape \(input) to \(requested)") }
    return shape
}
