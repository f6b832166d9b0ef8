/// Mutable state of one inference run: the contents side table, the op registry and what went unrecognised.
final class InferenceState {
    let model: Model
    let defaultOpset: Int64
    /// Known contents of small integer values, by value identity (values live as long as the model).
    private var table: [ObjectIdentifier: IntContents] = [:]
    /// Op keys without a rule, with how many nodes used each.
    var unknownOps: [String: Int] = [:]
    /// If nodes whose condition is known from shapes alone, with the branch taken (true = then_branch).
    var staticIfConditions: [ObjectIdentifier: Bool] = [:]
    /// If nodes with a data-dependent condition one of whose branches fails for these shapes, and why.
    var invalidIfBranches: [ObjectIdentifier: String] = [:]

    /// Inferred tensors above this many elements are rejected as absurd (a corrupted or hostile model).
    static let maxElementCount = 1 << 40

    init(model: Model, defaultOpset: Int64) {
        self.model = model
        self.defaultOpset = defaultOpset
    }

    // MARK: Contents

    func contents(of value: Value) -> IntContents? {
        let id = ObjectIdentifier(value)
        if let known = table[id] { return known }
        guard let tensor = constantTensor(of: value), let c = IntContents(tensor: tensor) else { return nil }
        table[id] = c
        return c
    }

    func setContents(_ contents: IntContents, for value: Value) { table[ObjectIdentifier(value)] = contents }

    /// Constant data behind `value`: its initializer, or the tensor of the Constant node producing it.
    func constantTensor(of value: Value) -> Tensor? {
        if let t = value.initializer { return t }
        guard let node = value.producer, node.opType == "Constant", node.domain.isEmpty || node.domain == "ai.onnx" else {
            return nil
        }
        return ConstantFolding.tensor(ofConstant: node)
    }

    // MARK: Walking

    func opset(for node: Node) -> Int64 {
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        if domain.isEmpty { return defaultOpset }
        return model.opsetVersion(for: domain) ?? 1
    }

    func infer(graph: Graph) throws {
        for input in graph.inputs where !input.isConstant {
            guard let shape = input.shape, let count = DimMath.factors(shape.dims.filter(\.isStatic))?.known,
                  count <= Self.maxElementCount else {
                if input.shape != nil {
                    throw MCCError.failure("graph input '\(input.name)' shape \(input.shape?.description ?? "") has more than 2^40 elements")
                }
                continue
            }
            if let bad = shape.dims.compactMap(\.value).first(where: { $0 < 0 }) {
                throw MCCError.failure("graph input '\(input.name)' has negative dim \(bad)")
            }
        }
        for node in graph.nodes { try infer(node: node) }
    }

    func infer(node: Node) throws {
        let context = InferenceContext(node: node, opset: opset(for: node), state: self)
        if let rule = ShapeInferenceRegistry.rule(opType: node.opType, domain: node.domain) {
            try rule(context)
        } else {
            unknownOps[ShapeInferenceRegistry.key(opType: node.opType, domain: node.domain), default: 0] += 1
        }
        for (i, output) in node.outputs.enumerated() where !output.isAbsent {
            if let inferred = context.outputTypes[i] {
                try record(inferred, on: output, of: node)
            } else if let shape = output.shape {
                // Declared-only types are untrusted too: later rules do arithmetic on these dims.
                try checkSize(shape, output: output, node: node)
            }
            if let c = context.outputContents[i], contentsMatch(c, output.type?.shape) { setContents(c, for: output) }
        }
    }

    private func contentsMatch(_ contents: IntContents, _ shape: Shape?) -> Bool {
        guard let shape else { return true }
        return shape.rank == contents.rank && zip(shape.dims, contents.shape).allSatisfy { d, s in d.value.map { $0 == s } ?? true }
    }

    /// Merges what the rule inferred with the declared type of `output` and stores the result.
    private func record(_ inferred: InferredType, on output: Value, of node: Node) throws {
        if let container = inferred.container {
            if output.type == nil || !(output.type?.isTensor ?? false) { output.type = container }
            return
        }
        let declared = output.type
        guard let elementType = inferred.elementType ?? declared?.elementType else { return }
        var shape = inferred.shape
        if let declaredShape = declared?.shape {
            shape = try merge(inferred: inferred.shape, declared: declaredShape, output: output, node: node)
        }
        if let shape { try checkSize(shape, output: output, node: node) }
        output.type = .tensor(elementType, shape)
    }

    private func merge(inferred: Shape?, declared: Shape, output: Value, node: Node) throws -> Shape {
        guard let inferred else { return declared }
        guard inferred.rank == declared.rank else {
            throw MCCError.failure("\(node.label): output '\(output.name)' is declared with rank \(declared.rank) \(declared) but inferred as \(inferred)")
        }
        var dims: [Dim] = []
        for (i, (inf, dec)) in zip(inferred.dims, declared.dims).enumerated() {
            switch (inf, dec) {
            case (.known(let a), .known(let b)):
                guard a == b else {
                    throw MCCError.failure("\(node.label): output '\(output.name)' dim \(i) is declared \(b) but inferred as \(a) (declared \(declared), inferred \(inferred))")
                }
                dims.append(inf)
            case (.known, _): dims.append(inf)
            case (_, .known): dims.append(dec)
            case (.symbolic, _): dims.append(inf)
            case (.unknown, _): dims.append(dec)
            }
        }
        return Shape(dims)
    }

    private func checkSize(_ shape: Shape, output: Value, node: Node) throws {
        var count = 1
        for d in shape.dims {
            guard let v = d.value else { continue }
            guard v >= 0 else {
                throw MCCError.failure("\(node.label): output '\(output.name)' gets negative dim \(v) in \(shape)")
            }
            let (p, overflow) = count.multipliedReportingOverflow(by: v)
            guard !overflow, p <= Self.maxElementCount else {
                throw MCCError.failure("\(node.label): output '\(output.name)' shape \(shape) has more than 2^40 elements")
            }
            count = p
        }
    }
}

/// Maps op types (and domains) to inference rules, one table per op family.
enum ShapeInferenceRegistry {
    static func key(opType: String, domain: String) -> String {
        let d = domain == "ai.onnx" ? "" : domain
        return d.isEmpty ? opType : "\(d)::\(opType)"
    }

    static func rule(opType: String, domain: String) -> InferenceRule? { rules[key(opType: opType, domain: domain)] }

    /// Op keys with a rule.
    static var supportedOps: [String] { rules.keys.sorted() }

    static let rules: [String: InferenceRule] = {
        var all: [String: InferenceRule] = [:]
        for family in [ElementwiseInference.rules, ConvPoolInference.rules, ShapeOpsInference.rules,
                       IndexingInference.rules, ReduceInference.rules, MatMulInference.rules,
                       NormalizationInference.rules, RecurrentInference.rules, ControlFlowInference.rules,
                       ResizeInference.rules, MiscInference.rules] {
            all.merge(family) { first, _ in first }
        }
        return all
    }()
}
