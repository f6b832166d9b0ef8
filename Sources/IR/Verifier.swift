/// Structural checks that every stage may rely on, run after import and between passes:
/// - SSA: a non-empty name is defined once per graph scope (inputs, initializers, node outputs);
/// - order: every node input is defined before the node (graph input, initializer, earlier output, or a value of
///   an enclosing graph for subgraphs), which also rules out cycles;
/// - links: outputs point back at their producer, use-lists match node inputs exactly;
/// - types: initializer data agrees with the value's declared type; graph outputs are defined.
public enum Verifier {
    public static func verify(_ model: Model) throws {
        try verify(model.graph, outerScope: [])
        for function in model.functions {
            do { try verify(function.body, outerScope: []) } catch let error as MCCError {
                throw error.prefixed("function '\(function.name)'")
            }
        }
    }

    public static func verify(_ graph: Graph, outerScope: Set<ObjectIdentifier>) throws {
        var defined = outerScope
        var names = Set<String>()
        // Sized up front: growing rehashes every name (the verifier runs on every compile).
        let valueCount = graph.inputs.count + graph.initializers.count + graph.nodes.count * 2
        defined.reserveCapacity(outerScope.count + valueCount)
        names.reserveCapacity(valueCount)
        // `what` is only built for the error: the verifier runs on every compile.
        func define(_ value: Value, _ what: @autoclosure () -> String) throws {
            guard !value.isAbsent else { return }
            guard names.insert(value.name).inserted else {
                throw MCCError.failure("\(graphLabel(graph)): value '\(value.name)' is defined twice (\(what()))")
            }
            defined.insert(ObjectIdentifier(value))
            try checkUses(of: value, in: graph)
        }
        for input in graph.inputs { try define(input, "graph input") }
        for value in graph.initializers {
            guard let tensor = value.initializer else {
                throw MCCError.failure("\(graphLabel(graph)): initializer '\(value.name)' has no data")
            }
            try checkType(of: value, against: tensor, in: graph)
            if !defined.contains(ObjectIdentifier(value)) { try define(value, "initializer") }
        }
        for (index, node) in graph.nodes.enumerated() {
            guard node.graph === graph else {
                throw MCCError.failure("\(graphLabel(graph)): \(node.label) is listed but not owned by this graph")
            }
            for (i, input) in node.inputs.enumerated() {
                guard let input, !input.isAbsent else { continue }
                if !defined.contains(ObjectIdentifier(input)) {
                    // Only on the error path: which message applies.
                    if let producer = input.producer,
                       let p = graph.nodes.firstIndex(where: { $0 === producer }), p >= index {
                        throw MCCError.failure("\(graphLabel(graph)): \(node.label) reads '\(input.name)' before it is produced (cycle or unsorted graph)")
                    }
                    throw MCCError.failure("\(graphLabel(graph)): \(node.label) input \(i) '\(input.name)' is not defined")
                }
                guard input.uses.contains(where: { $0.node === node && $0.index == i }) else {
                    throw MCCError.failure("\(graphLabel(graph)): use-list of '\(input.name)' misses \(node.label)")
                }
            }
            for sub in node.subgraphs {
                do { try verify(sub, outerScope: defined) } catch let error as MCCError {
                    throw error.prefixed("subgraph of \(node.label)")
                }
            }
            for (k, output) in node.outputs.enumerated() {
                guard output.producer === node, output.producerOutputIndex == k else {
                    throw MCCError.failure("\(graphLabel(graph)): output '\(output.name)' of \(node.label) does not point back at it")
                }
                try define(output, "output of \(node.label)")
            }
        }
        for output in graph.outputs where !defined.contains(ObjectIdentifier(output)) {
            throw MCCError.failure("\(graphLabel(graph)): graph output '\(output.name)' is not defined")
        }
    }

    private static func graphLabel(_ graph: Graph) -> String { graph.name.isEmpty ? "graph" : "graph '\(graph.name)'" }

    private static func checkUses(of value: Value, in graph: Graph) throws {
        for use in value.uses {
            guard use.index < use.node.inputs.count, use.node.inputs[use.index] === value else {
                throw MCCError.failure("\(graphLabel(graph)): use-list of '\(value.name)' names \(use.node.label) input \(use.index), which reads another value")
            }
        }
    }

    private static func checkType(of value: Value, against tensor: Tensor, in graph: Graph) throws {
        guard let type = value.type else { return }
        guard case .tensor(let elementType, let shape) = type else {
            throw MCCError.failure("\(graphLabel(graph)): initializer '\(value.name)' is declared as \(type)")
        }
        if elementType != tensor.elementType {
            throw MCCError.failure("\(graphLabel(graph)): initializer '\(value.name)' holds \(tensor.elementType) but is declared \(elementType)")
        }
        if let shape, shape.rank != tensor.rank || zip(shape.dims, tensor.shape).contains(where: { d, s in d.value.map { $0 != s } ?? false }) {
            throw MCCError.failure("\(graphLabel(graph)): initializer '\(value.name)' has shape \(tensor.shape) but is declared \(shape)")
        }
    }
}
