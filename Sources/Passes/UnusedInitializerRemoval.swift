import IR

/// Drops initializers nothing reads.
///
/// Rewrite: an initializer with no uses (no node of its graph or of a nested subgraph reads it) that is neither
/// an output nor an input of its graph is removed. Applied in every graph, subgraphs included.
///
/// Kept: initializers that are also graph inputs (IR < 4 style defaults the caller may override: they are part of
/// the interface) and initializers returned as graph outputs.
public struct UnusedInitializerRemoval: Pass {
    public var name: String { "unused-initializer-removal" }
    /// Constants are read by value; their use counts only in ways a merge cannot enable (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }

    public init() {}

    public func run(on model: Model, context: PassContext) throws -> Bool { prune(model.graph, context: context) }

    private func prune(_ graph: Graph, context: PassContext) -> Bool {
        var changed = false
        for node in graph.nodes {
            for sub in node.nestedGraphs where prune(sub, context: context) { changed = true }
        }
        let interface = IdentitySet(graph.inputs + graph.outputs)
        let before = graph.initializers.count
        graph.initializers.removeAll { value in
            guard value.uses.isEmpty && !interface.contains(ObjectIdentifier(value)) else { return false }
            context.retire(initializer: value)
            return true
        }
        return changed || graph.initializers.count != before
    }
}
