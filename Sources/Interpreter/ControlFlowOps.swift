import IR
import Kernels

/// Constant and control flow (If, Loop, Scan). Subgraphs run through the interpreter
/// with the calling scope as parent, so bodies read outer values directly.
func registerControlFlowOps(_ r: inout OpRegistry) {
    r.register("Constant") { ctx in [try constantTensor(ctx.node)] }
    r.register("If") { ctx in
        let cond = try ctx.input(0)
        guard cond.elementCount == 1 else { throw ctx.failure("condition must have one element, has \(cond.elementCount)") }
        let taken = cond.floatValues().first.map { $0 != 0 } ?? false
        guard let branch = ctx.node.attribute(taken ? "then_branch" : "else_branch")?.graph else {
            throw ctx.failure("missing \(taken ? "then_branch" : "else_branch")")
        }
        return try ctx.runSubgraph(branch, inputs: [])
    }
    r.register("Loop") { ctx in try runLoop(ctx) }
    r.register("Scan") { ctx in try runScan(ctx) }
}

/// A Constant node's value (the attribute tensor itself: tensors share storage, so nothing is copied).
func constantTensor(_ node: Node) throws -> Tensor {
    guard let attribute = node.attributes.first else { throw MCCError.failure("\(node.label): Constant has no value attribute") }
    switch attribute.value {
    case .tensor(let t): return t
    case .sparseTensor(let s): return try s.densified()
    case .float(let f): return Tensor(scalar: f)
    case .floats(let fs): return Tensor(floats: fs, shape: [fs.count])
    case .int(let i): return Tensor(int64s: [i], shape: [])
    case .ints(let v): return Tensor(int64s: v, shape: [v.count])
    case .string(let s): return Tensor(elementType: .string, shape: [], storage: TensorStorage(zeroed: 0), strings: [s])
    case .strings(let v): return Tensor(elementType: .string, shape: [v.count], storage: TensorStorage(zeroed: 0), strings: v)
    default: throw MCCError.unsupported("\(node.label): unsupported Constant attribute '\(attribute.name)'")
    }
}

/// ONNX Loop: inputs (M?, cond?, v_initial...), body (iter, cond, v...) -> (cond, v..., scan...),
/// outputs (v_final..., scan outputs stacked on a new leading axis).
private func runLoop(_ ctx: OpContext) throws -> [Tensor] {
    guard let body = ctx.node.attribute("body")?.graph else { throw ctx.failure("Loop has no body") }
    let maxTrips = ctx.optionalInput(0).map { $0.int64Values().first ?? 0 }
    var condition = ctx.optionalInput(1).map { ($0.floatValues().first ?? 0) != 0 } ?? true
    var carried: [Tensor] = []
    for i in 2..<max(2, ctx.inputs.count) { carried.append(try ctx.input(i)) }
    let carriedCount = carried.count
    guard body.inputs.count == carriedCount + 2, body.outputs.count >= carriedCount + 1 else {
        throw ctx.failure("Loop body signature does not match its \(carriedCount) loop-carried values")
    }
    let scanCount = body.outputs.count - 1 - carriedCount
    var scans = [[Tensor]](repeating: [], count: scanCount)
    var trip: Int64 = 0
    while condition, maxTrips.map({ trip < $0 }) ?? true {
        let outputs = try ctx.runSubgraph(body, inputs: [Tensor(int64s: [trip], shape: []),
                                                         try boolScalar(condition)] + carried)
        condition = (outputs[0].floatValues().first ?? 0) != 0
        carried = Array(outputs[1..<(1 + carriedCount)])
        for k in 0..<scanCount { scans[k].append(outputs[1 + carriedCount + k]) }
        trip += 1
        if trip > 1 << 31 { throw ctx.failure("Loop ran more than 2^31 iterations") }
    }
    var results = carried
    for (k, parts) in scans.enumerated() {
        let template = body.outputs[1 + carriedCount + k]
        results.append(try stack(parts, elementType: template.elementType ?? .float, ctx: ctx))
    }
    return results
}

private func boolScalar(_ value: Bool) throws -> Tensor {
    Tensor(.bool, shape: [], values: [UInt8(value ? 1 : 0)])
}

/// Stacks equally shaped tensors on a new leading axis.
func stack(_ parts: [Tensor], elementType: ElementType, ctx: OpContext) throws -> Tensor {
    guard let first = parts.first else { return try ctx.allocate(elementType, [0]) }
    guard parts.allSatisfy({ $0.shape == first.shape && $0.elementType == first.elementType }) else {
        throw ctx.failure("scan outputs change shape across iterations")
    }
    let out = try ctx.allocate(first.elementType, [parts.count] + first.shape)
    let size = first.byteCount
    for (i, part) in parts.enumerated() where size > 0 {
        out.storage.mutableBaseAddress.advanced(by: i * size).copyMemory(from: part.storage.baseAddress, byteCount: size)
    }
    return out
}

/// ONNX Scan. Opset 9+: inputs (state..., scan inputs...), body (state..., slices...) -> (state..., scan slices...);
/// each scan input is sliced along its `scan_input_axes` entry (reversed per `scan_input_directions`), scan outputs
/// are stacked along `scan_output_axes` (prepended per `scan_output_directions`). Opset 8 has a leading optional
/// `sequence_lens` input and a batch axis 0 on every input and output: it runs the opset-9 form per batch entry.
private func runScan(_ ctx: OpContext) throws -> [Tensor] {
    guard let body = ctx.node.attribute("body")?.graph else { throw ctx.failure("Scan has no body") }
    let scanCount = ctx.int("num_scan_inputs", default: 0)
    if ctx.opset >= 9 {
        let inputs = try (0..<ctx.inputs.count).map { try ctx.input($0) }
        return try scanOnce(ctx, body: body, inputs: inputs, scanCount: scanCount, inputDirections: "scan_input_directions")
    }
    if let lengths = ctx.optionalInput(0), lengths.elementCount > 0 {
        throw ctx.unsupported("opset-8 Scan with sequence_lens")
    }
    let inputs = try (1..<max(1, ctx.inputs.count)).map { try ctx.input($0) }
    guard let batch = inputs.first?.shape.first, inputs.allSatisfy({ $0.shape.first == batch }) else {
        throw ctx.failure("opset-8 Scan inputs need a common batch axis")
    }
    var perBatch: [[Tensor]] = []
    for b in 0..<batch {
        let slices = try inputs.map { x in reshaped(try gathered(x, axis: 0, indices: [Int64(b)], ctx: ctx), Array(x.shape.dropFirst())) }
        perBatch.append(try scanOnce(ctx, body: body, inputs: slices, scanCount: scanCount, inputDirections: "directions"))
    }
    guard let first = perBatch.first else { throw ctx.failure("opset-8 Scan with an empty batch") }
    return try first.indices.map { k in try stack(perBatch.map { $0[k] }, elementType: first[k].elementType, ctx: ctx) }
}

private func scanOnce(_ ctx: OpContext, body: Graph, inputs: [Tensor], scanCount: Int, inputDirections: String) throws -> [Tensor] {
    let stateCount = inputs.count - scanCount
    guard scanCount >= 1, stateCount >= 0, body.inputs.count == inputs.count, body.outputs.count >= stateCount else {
        throw ctx.failure("Scan body signature does not match \(stateCount) states and \(scanCount) scan inputs")
    }
    let scans = Array(inputs[stateCount...])
    let inAxes = try (0..<scanCount).map { j -> Int in
        let given = ctx.ints("scan_input_axes") ?? []
        return try normalizedAxes([j < given.count ? given[j] : 0], rank: scans[j].rank, ctx: ctx)[0]
    }
    let inReverse = (0..<scanCount).map { j -> Bool in
        let given = ctx.ints(inputDirections) ?? []
        return j < given.count && given[j] != 0
    }
    guard let steps = scans.first.map({ $0.shape[inAxes[0]] }),
          scans.indices.allSatisfy({ scans[$0].shape[inAxes[$0]] == steps }) else {
        throw ctx.failure("scan inputs differ in length")
    }
    var states = Array(inputs[..<stateCount])
    let outCount = body.outputs.count - stateCount
    var collected = [[Tensor]](repeating: [], count: outCount)
    for t in 0..<steps {
        let slices = try scans.indices.map { j -> Tensor in
            let x = scans[j]
            var shape = x.shape
            shape.remove(at: inAxes[j])
            let index = Int64(inReverse[j] ? steps - 1 - t : t)
            return reshaped(try gathered(x, axis: inAxes[j], indices: [index], ctx: ctx), shape)
        }
        let outputs = try ctx.runSubgraph(body, inputs: states + slices)
        states = Array(outputs[..<stateCount])
        for k in 0..<outCount { collected[k].append(outputs[stateCount + k]) }
    }
    var results = states
    let outAxes = ctx.ints("scan_output_axes") ?? []
    let outDirections = ctx.ints("scan_output_directions") ?? []
    for k in 0..<outCount {
        let parts = k < outDirections.count && outDirections[k] != 0 ? collected[k].reversed() : collected[k]
        let stacked = try stack(parts, elementType: body.outputs[stateCount + k].elementType ?? .float, ctx: ctx)
        let axis = try normalizedAxes([k < outAxes.count ? outAxes[k] : 0], rank: stacked.rank, ctx: ctx)[0]
        guard axis != 0 else {
            results.append(stacked)
            continue
        }
        // Move the stacked (leading) axis to `axis`.
        var perm = Array(1..<stacked.rank)
        perm.insert(0, at: axis)
        let out = try ctx.allocate(stacked.elementType, perm.map { stacked.shape[$0] })
        transpose(src: stacked.storage.baseAddress, shape: stacked.shape, perm: perm,
                  elementSize: try elementSize(stacked, ctx: ctx), dst: out.storage.mutableBaseAddress)
        results.append(out)
    }
    return results
}
