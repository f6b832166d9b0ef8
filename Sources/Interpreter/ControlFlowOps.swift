import IR

/// Constant, Identity-like pass-throughs and control flow (If, Loop). Subgraphs run through the interpreter
/// with the calling scope as parent, so bodies read outer values directly.
func registerControlFlowOps(_ r: inout OpRegistry) {
    r.register("Constant") { ctx in [try constantTensor(ctx)] }
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
}

private func constantTensor(_ ctx: OpContext) throws -> Tensor {
    guard let attribute = ctx.node.attributes.first else { throw ctx.failure("Constant has no value attribute") }
    switch attribute.value {
    case .tensor(let t): return t
    case .sparseTensor(let s): return try s.densified()
    case .float(let f): return Tensor(scalar: f)
    case .floats(let fs): return Tensor(floats: fs, shape: [fs.count])
    case .int(let i): return Tensor(int64s: [i], shape: [])
    case .ints(let v): return Tensor(int64s: v, shape: [v.count])
    case .string(let s): return Tensor(elementType: .string, shape: [], storage: TensorStorage(zeroed: 0), strings: [s])
    case .strings(let v): return Tensor(elementType: .string, shape: [v.count], storage: TensorStorage(zeroed: 0), strings: v)
    default: throw ctx.unsupported("Constant attribute '\(attribute.name)'")
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
        carried = Array(outputs[1...carriedCount])
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
