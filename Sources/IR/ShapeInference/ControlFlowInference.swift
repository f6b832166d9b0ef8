/// If, Loop and Scan: their bodies are inferred in place, then the node outputs are derived from the body
/// outputs. If branches merge (equal dims kept, others unknown) unless the condition is known.
enum ControlFlowInference {
    static let rules: [String: InferenceRule] = ["If": ifOp, "Loop": loop, "Scan": scan]

    /// Infers `graph`, prefixing errors with where the subgraph sits.
    private static func infer(_ graph: Graph, _ what: String, _ c: InferenceContext) throws {
        do { try c.state.infer(graph: graph) } catch let error as MCCError {
            throw error.prefixed("\(what) of \(c.node.label)")
        }
    }

    /// Sets a body input's type from the outside when the body does not declare one as precise.
    private static func seed(_ value: Value, with type: ValueType?) {
        guard let type else { return }
        guard let declared = value.type, let declaredShape = declared.shape else { value.type = type; return }
        if let shape = type.shape, shape.rank == declaredShape.rank {
            let dims = zip(shape.dims, declaredShape.dims).map { a, b in a.isStatic ? a : b }
            value.type = .tensor(declared.elementType ?? type.elementType ?? .float, Shape(dims))
        }
    }

    private static func merge(_ a: ValueType?, _ b: ValueType?) -> ValueType? {
        guard let a, let b else { return nil }
        if a == b { return a }
        guard case .tensor(let ea, let sa) = a, case .tensor(let eb, _) = b, ea == eb else { return nil }
        return .tensor(ea, DimMath.merge(sa, b.shape))
    }

    static func ifOp(_ c: InferenceContext) throws {
        guard let thenBranch = c.attr("then_branch")?.graph, let elseBranch = c.attr("else_branch")?.graph else {
            throw c.fail("missing then_branch or else_branch")
        }
        guard thenBranch.outputs.count == c.outputCount, elseBranch.outputs.count == c.outputCount else {
            throw c.fail("branches have \(thenBranch.outputs.count) and \(elseBranch.outputs.count) outputs for \(c.outputCount) node outputs")
        }
        var condition = c.contents(0)?.values.first?.value
        if let condition {
            c.state.staticIfConditions[ObjectIdentifier(c.node)] = condition != 0
            // Only the taken branch runs; the other may not even be valid for these shapes.
            try infer(condition != 0 ? thenBranch : elseBranch, condition != 0 ? "then_branch" : "else_branch", c)
        } else {
            // A branch that cannot run with these shapes is never taken, so the other one decides the types.
            var thenError: MCCError?
            do { try infer(thenBranch, "then_branch", c) } catch let error as MCCError { thenError = error }
            do { try infer(elseBranch, "else_branch", c) } catch let error as MCCError {
                if let thenError { throw thenError }
                condition = 1
                c.state.invalidIfBranches[ObjectIdentifier(c.node)] = "else_branch cannot run with these shapes (\(error.message))"
            }
            if let thenError {
                condition = 0
                c.state.invalidIfBranches[ObjectIdentifier(c.node)] = "then_branch cannot run with these shapes (\(thenError.message))"
            }
            if let condition { c.state.staticIfConditions[ObjectIdentifier(c.node)] = condition != 0 }
        }
        for i in 0..<c.outputCount {
            let t = thenBranch.outputs[i], e = elseBranch.outputs[i]
            if let condition {
                let chosen = condition != 0 ? t : e
                c.setOutputType(i, chosen.type)
                c.setContents(i, c.state.contents(of: chosen))
            } else {
                if let merged = merge(t.type, e.type) {
                    c.setOutputType(i, merged)
                } else if let et = t.type?.elementType ?? e.type?.elementType, t.type?.elementType == e.type?.elementType {
                    c.setOutput(i, et, nil as Shape?)
                }
                if let a = c.state.contents(of: t), a == c.state.contents(of: e) { c.setContents(i, a) }
            }
        }
    }

    static func loop(_ c: InferenceContext) throws {
        guard let body = c.attr("body")?.graph else { throw c.fail("missing body") }
        let carried = max(c.inputCount - 2, 0)
        guard body.inputs.count == carried + 2, body.outputs.count >= carried + 1 else {
            throw c.fail("body has \(body.inputs.count) inputs and \(body.outputs.count) outputs for \(carried) loop-carried values")
        }
        seed(body.inputs[0], with: .tensor(.int64, Shape([Int]())))
        seed(body.inputs[1], with: .tensor(.bool, Shape([Int]())))
        for k in 0..<carried { seed(body.inputs[k + 2], with: c.type(k + 2)) }
        try infer(body, "body", c)
        for k in 0..<carried {
            // The final value is the initial one or a later iteration's: keep what both agree on.
            c.setOutputType(k, merge(c.type(k + 2), body.outputs[k + 1].type) ?? body.outputs[k + 1].type.map { t in
                t.elementType.map { .tensor($0, nil) } ?? t
            })
        }
        // Scan outputs stack per-iteration values; the trip count is known only for a constant M without cond.
        var trips = Dim.unknown
        if !c.hasInput(1), let m = c.contents(0)?.values.first { trips = m }
        for (k, out) in body.outputs.dropFirst(carried + 1).enumerated() where carried + k < c.outputCount {
            guard let e = out.type?.elementType else { continue }
            c.setOutput(carried + k, e, out.shape.map { Shape([trips] + $0.dims) })
        }
    }

    static func scan(_ c: InferenceContext) throws {
        guard let body = c.attr("body")?.graph else { throw c.fail("missing body") }
        let scanInputs = c.int("num_scan_inputs", default: 0)
        // Opset 8 had an optional sequence_lens first input; opset 9+ has none.
        let offset = c.opset < 9 ? 1 : 0
        let states = c.inputCount - offset - scanInputs
        guard scanInputs >= 1, states >= 0, body.inputs.count == states + scanInputs,
              body.outputs.count >= states else {
            throw c.fail("body inputs/outputs do not match \(states) states and \(scanInputs) scan inputs")
        }
        let inputAxes = c.intsAttr("scan_input_axes") ?? Array(repeating: 0, count: scanInputs)
        var sequence = Dim.unknown
        for k in 0..<states { seed(body.inputs[k], with: c.type(offset + k)) }
        for k in 0..<scanInputs {
            guard let s = c.shape(offset + states + k), k < inputAxes.count else { continue }
            let axis = try c.axis(inputAxes[k], rank: s.rank, what: "scan_input_axes")
            var dims = s.dims
            if sequence == .unknown { sequence = dims[axis] }
            dims.remove(at: axis)
            seed(body.inputs[states + k], with: c.elementType(offset + states + k).map { .tensor($0, Shape(dims)) })
        }
        try infer(body, "body", c)
        for k in 0..<states { c.setOutputType(k, body.outputs[k].type) }
        let outputAxes = c.intsAttr("scan_output_axes") ?? []
        for (k, out) in body.outputs.dropFirst(states).enumerated() where states + k < c.outputCount {
            guard let e = out.type?.elementType else { continue }
            guard let s = out.shape else { c.setOutput(states + k, e, nil as Shape?); continue }
            let axis = try c.axis(k < outputAxes.count ? outputAxes[k] : 0, rank: s.rank + 1, what: "scan_output_axes")
            var dims = s.dims
            dims.insert(sequence, at: axis)
            c.setOutput(states + k, e, dims)
        }
    }
}
