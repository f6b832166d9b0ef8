import IR

/// Collapses chains of layout-preserving shape ops and of transposes.
///
/// Rewrites (the first node of a chain stays while other nodes read it; DeadCodeElimination removes it otherwise):
/// - `Y(X(x))` with X, Y ∈ {Reshape, Flatten, Squeeze, Unsqueeze} (all keep the row-major element order) and Y's
///   output shape static → `Reshape(x, <Y's static shape>)` (with `allowzero=1` when the shape holds a 0 size;
///   not done below opset 14 then, nor below opset 5 where Reshape takes an attribute);
/// - `Reshape(Reshape(x, s1), s2)` with `s2` a constant without 0 entries (or `allowzero=1`) → `Reshape(x, s2)`,
///   shapes static or not (`-1` still resolves against the same element count);
/// - `Transpose(Transpose(x, p1), p2)` → `Transpose(x, q)` with `q[i] = p1[p2[i]]`; an identity `q` is then removed by
///   IdentityElimination. A missing `perm` means "reverse the axes" and needs the rank.
public struct ReshapeChains: Pass {
    public var name: String { "reshape-chains" }
    /// Constants are read by value, type and shape; single-reader tests only on non-constants (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }

    public init() {}

    static let orderPreserving: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze"]

    /// `orderPreserving.contains(op)` by comparison (asked of nearly every node; hashing the name cost more).
    static func isOrderPreserving(_ op: String) -> Bool {
        // Lengths first (7 or 9): most op types fail without a string comparison.
        switch op.utf8.count {
        case 7: op == "Reshape" || op == "Flatten" || op == "Squeeze"
        case 9: op == "Unsqueeze"
        default: false
        }
    }

    public func run(on model: Model, context: PassContext) throws -> Bool {
        var names = LazyNames(model: model)
        return collapse(in: model.graph, opset: model.defaultOpset, names: &names)
    }

    private func collapse(in graph: Graph, opset: Int64, names: inout LazyNames) -> Bool {
        var changed = false
        for node in graph.nodes {
            for sub in node.nestedGraphs where collapse(in: sub, opset: opset, names: &names) { changed = true }
            guard Rewriting.isDefaultDomain(node), let input = node.input(0), let inner = input.producer,
                  inner.graph === graph, Rewriting.isDefaultDomain(inner), let source = inner.input(0) else { continue }
            if Self.isOrderPreserving(node.opType), Self.isOrderPreserving(inner.opType) {
                if collapseShapeChain(node, source: source, graph: graph, opset: opset, names: &names) { changed = true }
            } else if Rewriting.isNamed(node.opType, "Transpose"), Rewriting.isNamed(inner.opType, "Transpose"),
                      let p1 = permutation(of: inner, rank: source.shape?.rank),
                      let p2 = permutation(of: node, rank: source.shape?.rank), p1.count == p2.count,
                      p2.allSatisfy({ $0 >= 0 && $0 < p1.count }) {
                node.setInput(0, source)
                node.setAttribute(Attribute("perm", .ints(p2.map { p1[Int($0)] })))
                changed = true
            }
        }
        return changed
    }

    private func collapseShapeChain(_ node: Node, source: Value, graph: Graph, opset: Int64, names: inout LazyNames) -> Bool {
        guard opset >= 5, let output = node.outputs.first else { return false }
        if let sizes = Rewriting.staticShape(output) {
            let needsAllowZero = sizes.contains(0)
            if needsAllowZero && opset < 14 { return false }
            let shape = Value(name: names.fresh("\(output.name)_shape"),
                              initializer: Tensor(int64s: sizes.map(Int64.init), shape: [sizes.count]))
            graph.initializers.append(shape)
            node.opType = "Reshape"
            node.attributes = needsAllowZero ? [Attribute("allowzero", .int(1))] : []
            node.setInputs([source, shape])
            return true
        }
        // Dynamic case: only Reshape after Reshape, with a target that does not copy dims from its input.
        guard node.opType == "Reshape",
              let inner = node.input(0)?.producer, inner.opType == "Reshape",
              let target = node.input(1), let shape = target.initializer,
              !graph.inputs.contains(where: { $0 === target }) else { return false }
        let allowZero = (node.attribute("allowzero")?.int ?? 0) != 0
        guard allowZero || !shape.int64Values().contains(0) else { return false }
        node.setInput(0, source)
        return true
    }

    /// Collecting every name of the model costs more than the whole pass when nothing collapses: only on demand.
    struct LazyNames {
        let model: Model
        var allocator: NameAllocator?
        mutating func fresh(_ base: String) -> String {
            var names = allocator ?? NameAllocator(model: model)
            defer { allocator = names }
            return names.fresh(base)
        }
    }

    /// `perm` of a Transpose, or the reversal its absence means (needs the rank).
    private func permutation(of node: Node, rank: Int?) -> [Int64]? {
        if let perm = node.attribute("perm")?.ints { return perm }
        guard let rank else { return nil }
        return (0..<rank).reversed().map(Int64.init)
    }
}
