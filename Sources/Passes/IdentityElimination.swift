import IR

/// Removes nodes that pass their input through unchanged.
///
/// Rewrite: `%y = Op(%x, ...)` → uses of `%y` read `%x`, and the node goes, for
/// - `Identity(x)`; `Sum/Max/Min/Mean(x)` and `Concat(x)` with a single input;
/// - `Dropout(x, ...)` in inference mode (opset >= 7 without a `training_mode` input that is a constant true or a
///   runtime value; opset < 7 only with `is_test=1`) whose mask output is absent or unused;
/// - `Cast(x, to=T)` with `x` already of type T; `CastLike(x, y)` with `x` and `y` of one element type;
/// - `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Expand`, `Tile` whose static output shape equals `x`'s;
/// - `Transpose(x)` with the identity permutation (or no `perm` on rank <= 1);
/// - `Slice` with equal static input and output shapes and positive (or absent) constant steps: it takes all of `x`;
/// - `Pad` whose pads are all zero (constant input, or attribute before opset 11).
///
/// Graph outputs keep their names: when `%y` is a graph output, `%x` is renamed to `%y` if a node of the same
/// graph produces it; otherwise (`%x` is a graph input, an initializer, an outer-scope value or another output) the
/// node is reduced to `Identity(x)`, the one unavoidable case.
public struct IdentityElimination: Pass {
    public var name: String { "identity-elimination" }
    /// Constants are read by value; their use counts only in ways a merge cannot enable (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }

    public init() {}

    public func run(on model: Model, context: PassContext) throws -> Bool {
        eliminate(in: model.graph, model: model, context: context)
    }

    private func eliminate(in graph: Graph, model: Model, context: PassContext) -> Bool {
        var changed = false
        var removed: [Int] = []
        // Looked up once: `defaultOpset` searches the opset imports.
        let opset = model.defaultOpset
        for (position, node) in graph.nodes.enumerated() {
            for sub in node.nestedGraphs where eliminate(in: sub, model: model, context: context) { changed = true }
            guard Rewriting.isDefaultDomain(node), node.nestedGraphs.isEmpty,
                  let output = node.outputs.first, !output.isAbsent,
                  let source = passthrough(node, opset: opset, graph: graph) else { continue }
            if Rewriting.substitute(output, with: source, in: graph) {
                removed.append(position)
                changed = true
            } else if node.opType != "Identity" || node.inputs.count != 1 {
                Rewriting.makeIdentity(node, of: source)
                changed = true
            }
        }
        if !removed.isEmpty {
            context.retire(Rewriting.removeNodes(at: removed, from: graph))
        }
        return changed
    }

    /// Whether `passthrough` knows the op type: every other node is rejected before any other work. By length,
    /// then a few comparisons of short strings (hashing the name for a set lookup cost several times more, and
    /// this is asked of every node).
    static func isCandidate(_ op: String) -> Bool {
        switch op.utf8.count {
        case 3: op == "Sum" || op == "Max" || op == "Min" || op == "Pad"
        case 4: op == "Mean" || op == "Cast" || op == "Tile"
        case 5: op == "Slice"
        case 6: op == "Concat" || op == "Expand"
        case 7: op == "Dropout" || op == "Reshape" || op == "Flatten" || op == "Squeeze"
        case 8: op == "Identity" || op == "CastLike"
        case 9: op == "Unsqueeze" || op == "Transpose"
        default: false
        }
    }

    /// The input that `node`'s first output always equals, if any (its other outputs being absent or unused).
    private func passthrough(_ node: Node, opset: Int64, graph: Graph) -> Value? {
        guard Self.isCandidate(node.opType), let x = node.input(0) else { return nil }
        let output = node.outputs[0]
        for extra in node.outputs.dropFirst() where !extra.isAbsent {
            guard extra.uses.isEmpty, !graph.outputs.contains(where: { $0 === extra }) else { return nil }
        }
        var presentInputs = 0
        for input in node.inputs where input.map({ !$0.isAbsent }) ?? false { presentInputs += 1 }
        switch node.opType {
        case "Identity":
            return x
        case "Sum", "Max", "Min", "Mean", "Concat":
            return presentInputs == 1 && node.inputs.count == 1 ? x : nil
        case "Dropout":
            return isInferenceDropout(node, opset: opset) ? x : nil
        case "Cast":
            guard let to = node.attribute("to")?.int, let type = x.elementType, type.rawValue == Int32(truncatingIfNeeded: to)
            else { return nil }
            return x
        case "CastLike":
            guard let like = node.input(1), let a = x.elementType, a == like.elementType else { return nil }
            return x
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand", "Tile":
            return sameStaticShape(x, output) ? x : nil
        case "Transpose":
            guard let rank = x.shape?.rank else { return nil }
            if let perm = node.attribute("perm")?.ints {
                return perm.enumerated().allSatisfy { Int64($0.offset) == $0.element } ? x : nil
            }
            return rank <= 1 ? x : nil
        case "Slice":
            guard sameStaticShape(x, output) else { return nil }
            if node.inputs.count > 4 {
                guard let steps = node.inputs[4] else { return x }
                if steps.isAbsent { return x }
                guard let tensor = constant(steps, graph: graph) else { return nil }
                return tensor.int64Values().allSatisfy { $0 > 0 } ? x : nil
            }
            return x
        case "Pad":
            let pads: [Int64]?
            if let attribute = node.attribute("pads")?.ints {
                pads = attribute
            } else {
                pads = constant(node.input(1), graph: graph)?.int64Values()
            }
            guard let pads, pads.allSatisfy({ $0 == 0 }), sameStaticShape(x, output) else { return nil }
            return x
        default:
            return nil
        }
    }

    private func isInferenceDropout(_ node: Node, opset: Int64) -> Bool {
        if opset < 7 { return node.attribute("is_test")?.int == 1 }
        guard let training = node.input(2) else { return true }
        guard let flag = training.initializer, !training.uses.isEmpty,
              node.graph?.inputs.contains(where: { $0 === training }) != true else { return false }
        return flag.int64Values().allSatisfy { $0 == 0 }
    }

    private func sameStaticShape(_ a: Value, _ b: Value) -> Bool {
        guard let x = Rewriting.staticShape(a), let y = Rewriting.staticShape(b) else { return false }
        return x == y && a.elementType != nil && a.elementType == b.elementType
    }

    /// Constant data of `value` unless it is an overridable initializer (also a graph input).
    private func constant(_ value: Value?, graph: Graph) -> Tensor? {
        guard let value, let tensor = Rewriting.constant(value),
              !graph.inputs.contains(where: { $0 === value }) else { return nil }
        return tensor
    }
}
