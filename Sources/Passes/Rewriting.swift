import IR

/// Helpers the rewrite passes share: value substitution that keeps graph-output names, fresh names, constants.
public enum Rewriting {
    public static func isDefaultDomain(_ node: Node) -> Bool { node.domain.isEmpty || node.domain == "ai.onnx" }

    /// `name == expected` with the lengths compared first: Swift compares unequal strings out of line (a call per
    /// test), and passes test the op type of every node several times.
    @inline(__always)
    static func isNamed(_ name: String, _ expected: String) -> Bool {
        name.utf8.count == expected.utf8.count && name == expected
    }

    /// Makes every reader of `old` read `replacement` instead. When `old` is an output of `graph`, `replacement`
    /// takes over its name and output slot, so the model's interface keeps its names. Returns false and changes
    /// nothing when that takeover is impossible: `replacement` is not produced by a node of `graph` (a graph input,
    /// an initializer, a value of an enclosing graph) or is already an output of `graph`. The caller then keeps a
    /// node producing `old` (an Identity where nothing else remains).
    @discardableResult
    public static func substitute(_ old: Value, with replacement: Value, in graph: Graph) -> Bool {
        guard old !== replacement else { return true }
        if graph.outputs.contains(where: { $0 === old }) {
            guard let producer = replacement.producer, producer.graph === graph,
                  !graph.outputs.contains(where: { $0 === replacement }) else { return false }
            replacement.name = old.name
            if replacement.type == nil { replacement.type = old.type }
            for i in graph.outputs.indices where graph.outputs[i] === old { graph.outputs[i] = replacement }
        }
        old.replaceAllUses(with: replacement)
        return true
    }

    /// Turns `node` into `Identity(input)` producing its first output (its other outputs must be unused).
    public static func makeIdentity(_ node: Node, of input: Value) {
        node.opType = "Identity"
        node.domain = ""
        node.attributes = []
        node.setInputs([input])
        if node.outputs.count > 1 { node.setOutputs([node.outputs[0]]) }
    }

    /// Removes the nodes at `positions` (ascending, each once) of `graph.nodes`, detaching them in order; the
    /// rest keep their order. Returns the removed nodes. Many removals take one walk over the list without hashing:
    /// `Graph.remove` builds a set of the removed nodes, which cost more than the rest of a pass dropping hundreds
    /// (Constant nodes, duplicates). A few go through `Graph.remove`, which leaves the list in place.
    static func removeNodes(at positions: [Int], from graph: Graph) -> [Node] {
        let nodes = graph.nodes
        if positions.count <= 8 {
            let removed = positions.map { nodes[$0] }
            graph.remove(removed)
            return removed
        }
        var removed: [Node] = []
        removed.reserveCapacity(positions.count)
        var kept: [Node] = []
        kept.reserveCapacity(nodes.count - positions.count)
        var next = 0
        for (index, node) in nodes.enumerated() {
            if next < positions.count && positions[next] == index {
                node.detach()
                removed.append(node)
                next += 1
            } else {
                kept.append(node)
            }
        }
        graph.setNodes(kept)
        return removed
    }

    /// Static sizes of `value` when its type has a fully known shape.
    public static func staticShape(_ value: Value?) -> [Int]? { value?.type?.shape?.staticSizes }

    /// The value's constant data when it is an initializer (not overridable: callers check graph inputs).
    public static func constant(_ value: Value?) -> Tensor? {
        guard let value, !value.isAbsent else { return nil }
        return value.initializer
    }
}

/// Hands out value names not used anywhere in a model (main graph, subgraphs, functions), so new initializers and
/// values never shadow or collide with existing ones.
public struct NameAllocator {
    private var used: Set<String> = []

    public init(model: Model) {
        func collect(_ graph: Graph) {
            for v in graph.inputs + graph.initializers + graph.outputs { used.insert(v.name) }
            for node in graph.nodes {
                for v in node.outputs { used.insert(v.name) }
                for v in node.inputs { if let v { used.insert(v.name) } }
                for sub in node.nestedGraphs { collect(sub) }
            }
        }
        collect(model.graph)
        for function in model.functions { collect(function.body) }
    }

    /// `base` if free, else `base_1`, `base_2`, ...; the name is reserved.
    public mutating func fresh(_ base: String) -> String {
        var name = base
        var k = 0
        while used.contains(name) {
            k += 1
            name = "\(base)_\(k)"
        }
        used.insert(name)
        return name
    }
}
