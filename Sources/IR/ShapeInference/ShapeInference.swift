/// Type and shape inference with static-shape specialisation.
///
/// `run(on:)` fixes graph-input shapes given on the command line (substituting their symbolic dims everywhere),
/// then walks every node in order, subgraphs included, setting `Value.type` of each output to the most precise
/// type it can tell. Small integer tensors computed from shapes are evaluated on the way so that Reshape, Expand,
/// Resize and friends get static shapes once the inputs are static. Declared types are kept where inference
/// knows less; a known declared dim that contradicts inference is an error naming the node.
public struct ShapeInference: Sendable {
    /// Static shapes for graph inputs, by input name (`--shape NAME=d0,d1,...`).
    public var fixedInputShapes: [String: [Int]]
    /// Default-domain opset used when the model imports none.
    public var opset: Int64?

    public init(fixedInputShapes: [String: [Int]] = [:], opset: Int64? = nil) {
        self.fixedInputShapes = fixedInputShapes
        self.opset = opset
    }

    /// Op types with an inference rule, as `domain::op` (`op` for the default domain), sorted.
    public static var supportedOps: [String] { ShapeInferenceRegistry.supportedOps }

    /// Infers types in place. Throws `MCCError.usage` for bad fixed shapes and `MCCError.failure` naming the
    /// node for inconsistent graphs.
    @discardableResult
    public func run(on model: Model) throws -> ShapeInferenceReport {
        // Some exporters write -1 for a dynamic dim; it means "unknown", never a size.
        DimSanitizer().apply(to: model.graph)
        let bindings = try applyFixedShapes(to: model.graph)
        if !bindings.isEmpty { SymbolSubstitution(bindings: bindings).apply(to: model.graph) }
        let defaultOpset = model.opsetImports.isEmpty ? (opset ?? model.defaultOpset) : model.defaultOpset
        let state = InferenceState(model: model, defaultOpset: defaultOpset)
        try state.infer(graph: model.graph)
        var report = ShapeInferenceReport()
        report.fixedSymbols = bindings
        report.unknownOps = state.unknownOps.keys.sorted()
        report.nodesWithoutRule = state.unknownOps.values.reduce(0, +)
        report.staticIfConditions = state.staticIfConditions
        report.invalidIfBranches = state.invalidIfBranches
        for value in model.graph.allValues() where !value.isAbsent && !value.isConstant {
            if !(value.shape?.isStatic ?? false) { report.dynamicValues.append(value.name) }
        }
        return report
    }

    /// Sets the shapes of the named inputs and returns the values their symbolic dims take.
    func applyFixedShapes(to graph: Graph) throws -> [String: Int] {
        let initializerNames = Set(graph.initializers.map(\.name))
        let inputs = graph.inputs.filter { !initializerNames.contains($0.name) }
        var bindings: [String: Int] = [:]
        var boundBy: [String: String] = [:]
        for (name, sizes) in fixedInputShapes.sorted(by: { $0.key < $1.key }) {
            guard let input = inputs.first(where: { $0.name == name }) else {
                let names = inputs.map { "'\($0.name)'" }.joined(separator: ", ")
                throw MCCError.usage("--shape names unknown input '\(name)'; the model's inputs are \(names.isEmpty ? "none" : names)")
            }
            if let bad = sizes.first(where: { $0 < 0 || $0 > 1 << 40 }) {
                throw MCCError.usage("--shape \(name): size \(bad) is out of range")
            }
            if case .tensor(_, let declared)? = input.type, let declared {
                guard declared.rank == sizes.count else {
                    throw MCCError.usage("--shape \(name): input '\(name)' has rank \(declared.rank) (\(declared)), got \(sizes.count) dims")
                }
                for (i, (dim, size)) in zip(declared.dims, sizes).enumerated() {
                    switch dim {
                    case .known(let k) where k != size:
                        throw MCCError.usage("--shape \(name): dim \(i) of input '\(name)' is \(k) in the model, got \(size)")
                    case .symbolic(let symbol):
                        if let previous = bindings[symbol], previous != size {
                            throw MCCError.usage("--shape \(name): dim \(i) of input '\(name)' is '\(symbol)', already fixed to \(previous) by input '\(boundBy[symbol] ?? "?")', got \(size)")
                        }
                        bindings[symbol] = size
                        boundBy[symbol] = name
                    default: break
                    }
                }
            } else if let type = input.type, !type.isTensor {
                throw MCCError.usage("--shape \(name): input '\(name)' is not a tensor (\(type))")
            }
            input.type = .tensor(input.type?.elementType ?? .float, Shape(sizes))
        }
        return bindings
    }

    /// Checks that the graph inputs are static and that every main-graph value has a static shape after
    /// inference. Dynamic inputs are a usage error suggesting `--shape`; other values whose shape stays unknown
    /// (data-dependent ops, unknown custom ops) are unsupported, naming their producer. Subgraph values are
    /// checked only on request: branches not taken for known conditions are left uninferred.
    public static func requireStaticShapes(_ model: Model, includeSubgraphs: Bool = false) throws {
        let graph = model.graph
        let initializerNames = Set(graph.initializers.map(\.name))
        var problems: [String] = []
        for input in graph.inputs where !initializerNames.contains(input.name) {
            guard let type = input.type, type.isTensor else { continue }
            guard let shape = type.shape else {
                problems.append("input '\(input.name)' has an unknown rank: fix it with --shape \(input.name)=d0,d1,...")
                continue
            }
            let dynamic = shape.dynamicAxes
            guard !dynamic.isEmpty else { continue }
            let symbols = dynamic.map { shape.dims[$0].description }.joined(separator: ", ")
            let example = shape.dims.enumerated().map { $1.value.map(String.init) ?? "d\($0)" }.joined(separator: ",")
            problems.append("input '\(input.name)' has dynamic dims [\(dynamic.map(String.init).joined(separator: ","))] (\(symbols)): fix them with --shape \(input.name)=\(example)")
        }
        if !problems.isEmpty { throw MCCError.usage(problems.joined(separator: "; ")) }
        let nodes = includeSubgraphs ? graph.allNodes() : graph.nodes
        for node in nodes {
            for output in node.outputs where !output.isAbsent {
                guard let type = output.type else {
                    throw MCCError.unsupported("\(node.label): output '\(output.name)' has an unknown type even with static inputs")
                }
                guard type.isTensor else { continue }
                guard let shape = type.shape, shape.isStatic else {
                    throw MCCError.unsupported("\(node.label): output '\(output.name)' has a data-dependent shape \(type.shape.map(\.description) ?? "of unknown rank") even with static inputs")
                }
            }
        }
    }
}

/// What shape inference did: op types it had no rule for (their outputs keep declared types), the symbols
/// fixed from `--shape`, and the values whose shape is still not static.
public struct ShapeInferenceReport: Sendable, Equatable {
    /// Op types without an inference rule, as `domain::op` (`op` for the default domain), sorted.
    public var unknownOps: [String] = []
    /// How many nodes used an op from `unknownOps`.
    public var nodesWithoutRule = 0
    /// Symbolic dims substituted because an input using them was fixed.
    public var fixedSymbols: [String: Int] = [:]
    /// Non-constant values (subgraphs included) whose shape is not fully static.
    public var dynamicValues: [String] = []
    /// If nodes (by identity) whose condition follows from the shapes alone: the branch they always take.
    public var staticIfConditions: [ObjectIdentifier: Bool] = [:]
    /// If nodes with a data-dependent condition whose other branch fails for the fixed shapes (so it can never
    /// complete): the reason. Those Ifs are also in `staticIfConditions`, with the branch that can run.
    public var invalidIfBranches: [ObjectIdentifier: String] = [:]

    public init() {}
}

extension Graph {
    /// Inputs, initializers, node outputs and extra value infos here and in nested subgraphs.
    func allValues() -> [Value] {
        var result = inputs + initializers
        for node in nodes {
            result += node.outputs
            for sub in node.subgraphs { result += sub.allValues() }
        }
        return result
    }
}

/// Rewrites every declared dim in a graph (values of nested subgraphs included).
protocol DimRewriter {
    func rewrite(_ dim: Dim) -> Dim
}

extension DimRewriter {
    func apply(to graph: Graph) {
        for value in graph.allValues() + graph.outputs + graph.extraValueInfo { rewriteType(of: value) }
        for node in graph.allNodes() {
            for sub in node.subgraphs {
                for value in sub.outputs + sub.extraValueInfo { rewriteType(of: value) }
            }
        }
    }

    /// Rebuilds a value's type only when a dim in it changes (most do not: rebuilding every shape of a large
    /// model was a tenth of shape inference).
    private func rewriteType(of value: Value) {
        guard let type = value.type, changes(type) else { return }
        value.type = substitute(type)
    }

    private func changes(_ type: ValueType) -> Bool {
        switch type {
        case .tensor(_, let s), .sparseTensor(_, let s): s?.dims.contains { rewrite($0) != $0 } ?? false
        case .sequence(let t), .optional(let t): t.map(changes) ?? false
        case .map(_, let v): v.map(changes) ?? false
        }
    }

    func substitute(_ type: ValueType) -> ValueType {
        switch type {
        case .tensor(let e, let s): .tensor(e, s.map { Shape($0.dims.map(rewrite)) })
        case .sparseTensor(let e, let s): .sparseTensor(e, s.map { Shape($0.dims.map(rewrite)) })
        case .sequence(let t): .sequence(t.map(substitute))
        case .optional(let t): .optional(t.map(substitute))
        case .map(let k, let v): .map(key: k, value: v.map(substitute))
        }
    }
}

/// Replaces symbolic dims bound by `--shape` with their sizes.
struct SymbolSubstitution: DimRewriter {
    let bindings: [String: Int]

    func rewrite(_ dim: Dim) -> Dim {
        if case .symbolic(let s) = dim, let v = bindings[s] { return .known(v) }
        return dim
    }
}

/// Turns negative declared sizes (-1 from some exporters) and the placeholder symbol "?" into unknown dims:
/// "?" names no size, so two of them must not be bound together.
struct DimSanitizer: DimRewriter {
    func rewrite(_ dim: Dim) -> Dim {
        switch dim {
        case .known(let v) where v < 0: .unknown
        case .symbolic(let s) where s == "?" || s.isEmpty: .unknown
        default: dim
        }
    }
}
