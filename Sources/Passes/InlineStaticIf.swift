import IR

/// Replaces If nodes whose condition is fixed by the static shapes with the branch they always take.
///
/// Rewrite: `outs = If(cond){then: T, else: E}` with `cond` known (from shape inference's data propagation) becomes
/// T's (or E's) nodes and initializers placed before the If's position, plus `outs[i] = Identity(branch.outputs[i])`
/// so names and graph outputs stay as they were. Nested Ifs inside moved branches are handled too.
///
/// Why it is part of static specialization (-O0 included): once shapes are static, the untaken branch can be invalid
/// for them (silero_vad squeezes a dim "if it is 1"), and onnxruntime rejects such a model at load time.
public struct InlineStaticIf {
    public let conditions: [ObjectIdentifier: Bool]

    public init(conditions: [ObjectIdentifier: Bool]) { self.conditions = conditions }

    /// Returns whether the model changed.
    @discardableResult
    public func run(on model: Model) -> Bool { inline(in: model.graph) }

    private func inline(in graph: Graph) -> Bool {
        var changed = false
        var index = 0
        while index < graph.nodes.count {
            let node = graph.nodes[index]
            guard node.opType == "If", node.domain.isEmpty || node.domain == "ai.onnx",
                  let taken = conditions[ObjectIdentifier(node)],
                  let branch = node.attribute(taken ? "then_branch" : "else_branch")?.graph,
                  branch.outputs.count == node.outputs.count else {
                for sub in node.nestedGraphs where inline(in: sub) { changed = true }
                index += 1
                continue
            }
            graph.initializers += branch.initializers
            var moved = branch.nodes
            for (out, result) in zip(node.outputs, branch.outputs) {
                let identity = Node("Identity", name: "\(node.name.isEmpty ? out.name : node.name)/taken_branch_\(out.name)",
                                    inputs: [result], outputs: [])
                moved.append(identity)
            }
            let outputs = node.outputs
            node.setOutputs([])
            // The taken branch's nodes now live in `graph`; only the If itself and the untaken branch go away.
            node.removeAttribute(taken ? "then_branch" : "else_branch")
            node.detach()
            for (identity, out) in zip(moved.suffix(outputs.count), outputs) { identity.setOutputs([out]) }
            var nodes = graph.nodes
            nodes.replaceSubrange(index...index, with: moved)
            graph.setNodes(nodes)
            changed = true
            // Re-scan from the first moved node: the branch may hold further static Ifs.
        }
        return changed
    }
}
