import IR

/// Removes nodes whose results nobody reads.
///
/// Rewrite: a node none of whose outputs is used (by a node of its graph, or by a node of a nested subgraph that
/// captures it) or is an output of its graph is deleted; walking each node list backwards removes whole dead
/// chains in one run. Applied in every graph, subgraphs included; deleting a node with subgraphs drops their
/// captures too, so values only they read become dead in the same walk.
///
/// Kept: nodes outside the default ONNX domain (a custom op may have effects mcc cannot see; default-domain ops
/// have none). Initializers left unused are UnusedInitializerRemoval's job.
public struct DeadCodeElimination: Pass {
    public var name: String { "dead-code-elimination" }
    /// Constants are read by value; their use counts only in ways a merge cannot enable (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }

    public init() {}

    public func run(on model: Model, context: PassContext) throws -> Bool {
        eliminate(in: model.graph, context: context)
    }

    private func eliminate(in graph: Graph, context: PassContext) -> Bool {
        var changed = false
        // Subgraphs first: their dead nodes may be the last readers of values of this graph.
        for node in graph.nodes {
            for sub in node.nestedGraphs where eliminate(in: sub, context: context) { changed = true }
        }
        let kept = IdentitySet(graph.outputs)
        var dead = IdentitySet()
        for node in graph.nodes.reversed() {
            let isDead = (node.domain.isEmpty || node.domain == "ai.onnx")
                && node.outputs.allSatisfy { $0.uses.isEmpty && !kept.contains(ObjectIdentifier($0)) }
            if isDead {
                // Detaching now (not at the end) lets the producers of its inputs become dead in this same walk.
                node.detach()
                dead.insert(ObjectIdentifier(node))
            }
        }
        if !dead.isEmpty {
            if context.keepsRemovedObjects {
                context.retire(graph.nodes.filter { dead.contains(ObjectIdentifier($0)) })
            }
            graph.setNodes(graph.nodes.filter { !dead.contains(ObjectIdentifier($0)) })
            changed = true
        }
        return changed
    }
}
