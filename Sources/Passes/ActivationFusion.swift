import IR

/// Rewrites decomposed activations into the single ONNX ops targets map to native layers.
///
/// Matched constants are float scalars (any rank, one element); "1/6" means |k − 1/6| ≤ 1e-6 (exporters write
/// 0.16666667 or 0.1666667); every intermediate value must be read only inside the pattern and not be a graph
/// output, and x must not be a constant. Rules, applied in this order over the whole graph:
/// 1. Relu6 spellings → Clip: Min(Max(x, lo), hi) with lo ≤ hi → Clip(x, lo, hi); Clip(Relu(x), lo, hi) →
///    Clip(x, max(lo, 0), hi) (absent lo = −∞); Relu(Clip(x, lo, hi)) → Clip(x, max(lo, 0), hi) when that is ≤ hi.
/// 2. Clip(x + 3, 0, 6) / 6 (or · 1/6, either operand order, Add either order) → HardSigmoid(x, alpha = 1/6,
///    beta = 0.5). (HardSigmoid(x) = max(0, min(1, x/6 + 0.5)) is the same function.)
/// 3. (x · Clip(x + 3, 0, 6)) / 6 (or · 1/6) → HardSwish(x) at opset ≥ 14; below 14 (no HardSwish op) →
///    x · HardSigmoid(x, 1/6, 0.5), the two-op form emitters recognise.
/// 4. Opset ≥ 14: x · HardSigmoid(x, alpha = 1/6, beta = 0.5) → HardSwish(x) (rule 2 produces this from
///    x · (Clip(x + 3, 0, 6) / 6)).
/// x · Sigmoid(x) (Swish/SiLU) has no ONNX op and is left to the emitters. Numerics: the rewritten forms compute
/// the same piecewise-linear functions; results differ by float rounding only. Main graph only.
public struct ActivationFusion: Pass {
    public var name: String { "activation-fusion" }
    /// Constants are read by value, type and shape; single-reader tests only on non-constants (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }
    /// Every rule starts at a Min, Clip, Relu, Div or Mul and follows producers of the op types Max, Relu, Clip, Add,
    /// Mul, HardSigmoid, testing scalar constants' values, x's constness and identity, and single readers of
    /// non-constants: a layer fold creates none of those ops, changes none of those facts, and its removals and
    /// new producers (a layer) can only make a test fail.
    public var isUnaffectedByFoldingIntoLayers: Bool { true }

    public init() {}

    public func run(on model: Model, context: PassContext) throws -> Bool {
        let rw = GraphRewriter(model: model, context: context)
        var changed = false
        for node in rw.graph.nodes where isLive(node, rw) { if canonicalizeClip(node, rw: rw) { changed = true } }
        for node in rw.graph.nodes where isLive(node, rw) { if fuseHardSigmoid(node, rw: rw) { changed = true } }
        for node in rw.graph.nodes where isLive(node, rw) { if fuseHardSwish(node, rw: rw) { changed = true } }
        return changed
    }

    private func isLive(_ node: Node, _ rw: GraphRewriter) -> Bool {
        rw.isAlive(node) && isONNX(node) && node.outputs.count == 1 && !node.outputs[0].isAbsent
    }

    // MARK: Rule 1

    private func canonicalizeClip(_ node: Node, rw: GraphRewriter) -> Bool {
        // Asked of every node: op types of another length than Min, Clip and Relu leave before any string test.
        let op = node.opType
        guard op.utf8.count == 3 || op.utf8.count == 4 else { return false }
        switch op {
        case "Min":
            guard node.inputs.count == 2 else { return false }
            for (d, c) in [(0, 1), (1, 0)] {
                guard let hi = rw.scalarConstant(node.input(c)), let inner = node.input(d)?.producer,
                      inner.opType == "Max", isONNX(inner), inner.inputs.count == 2, rw.isOnlyUse(inner.outputs[0], by: node)
                else { continue }
                for (d2, c2) in [(0, 1), (1, 0)] {
                    guard let lo = rw.scalarConstant(inner.input(c2)), lo <= hi, let x = inner.input(d2), rw.constant(x) == nil
                    else { continue }
                    replace([inner, node], with: x, clip: (lo, hi), rw: rw)
                    return true
                }
            }
        case "Clip":
            guard let x = node.input(0), let relu = x.producer, relu.opType == "Relu", isONNX(relu),
                  rw.isOnlyUse(x, by: node), let bounds = clipBounds(node, rw: rw), let source = relu.input(0) else { return false }
            replace([relu, node], with: source, clip: (max(bounds.lo ?? 0, 0), bounds.hi), rw: rw)
            return true
        case "Relu":
            guard let x = node.input(0), let clip = x.producer, clip.opType == "Clip", isONNX(clip),
                  rw.isOnlyUse(x, by: node), let bounds = clipBounds(clip, rw: rw), let source = clip.input(0) else { return false }
            let lo = max(bounds.lo ?? 0, 0)
            if let hi = bounds.hi, lo > hi { return false }
            replace([clip, node], with: source, clip: (lo, bounds.hi), rw: rw)
            return true
        default:
            break
        }
        return false
    }

    /// Clip bounds from inputs (opset ≥ 11) or attributes; nil when a bound is not a constant scalar.
    private func clipBounds(_ clip: Node, rw: GraphRewriter) -> (lo: Double?, hi: Double?)? {
        if rw.opset < 11 || clip.attribute("min") != nil || clip.attribute("max") != nil {
            return (clip.floatAttribute("min").map(Double.init), clip.floatAttribute("max").map(Double.init))
        }
        var bounds: [Double?] = [nil, nil]
        for i in 1...2 where clip.input(i) != nil {
            guard let v = rw.scalarConstant(clip.input(i)) else { return nil }
            bounds[i - 1] = v
        }
        return (bounds[0], bounds[1])
    }

    /// Replaces the chain `nodes` (last one produces the result) by Clip(x, lo, hi).
    private func replace(_ nodes: [Node], with x: Value, clip bounds: (lo: Double?, hi: Double?), rw: GraphRewriter) {
        guard let last = nodes.last else { return }
        let result = last.outputs[0]
        let name = last.name.isEmpty ? "\(result.name)_clip" : last.name
        last.setOutputs([])
        let clip: Node
        if rw.opset >= 11 {
            let lo = bounds.lo.map { rw.addFloatInitializer("\(name)_min", [$0], shape: []) }
            let hi = bounds.hi.map { rw.addFloatInitializer("\(name)_max", [$0], shape: []) }
            clip = rw.makeNode("Clip", name: name, inputs: hi == nil ? [x, lo] : [x, lo, hi], outputs: [result])
        } else {
            var attributes: [Attribute] = []
            if let lo = bounds.lo { attributes.append(Attribute("min", .float(Float(lo)))) }
            if let hi = bounds.hi { attributes.append(Attribute("max", .float(Float(hi)))) }
            clip = rw.makeNode("Clip", name: name, inputs: [x], outputs: [result], attributes: attributes)
        }
        rw.insert(clip, before: last)
        rw.remove(nodes.reversed())
    }

    // MARK: Rules 2-4

    private static let sixth = 1.0 / 6.0
    private func isSixth(_ v: Double?) -> Bool { v.map { abs($0 - Self.sixth) <= 1e-6 } ?? false }

    /// value = Clip(x + 3, 0, 6) with the Add read by the Clip only: x and the two nodes.
    private func relu6OfXPlus3(_ value: Value, rw: GraphRewriter) -> (x: Value, nodes: [Node])? {
        guard let clip = value.producer, clip.opType == "Clip", isONNX(clip), let bounds = clipBounds(clip, rw: rw),
              bounds.lo == 0, bounds.hi == 6, let sum = clip.input(0), let add = sum.producer, add.opType == "Add",
              isONNX(add), add.inputs.count == 2, rw.isOnlyUse(sum, by: clip) else { return nil }
        for (d, c) in [(0, 1), (1, 0)] {
            if rw.scalarConstant(add.input(c)) == 3, let x = add.input(d), rw.constant(x) == nil { return (x, [add, clip]) }
        }
        return nil
    }

    /// `node` = a / 6 or a · (1/6) (either order): returns a.
    private func dividend(ofSixth node: Node, rw: GraphRewriter) -> Value? {
        guard isONNX(node), node.inputs.count == 2 else { return nil }
        if Rewriting.isNamed(node.opType, "Div"), rw.scalarConstant(node.input(1)) == 6 { return node.input(0) }
        if Rewriting.isNamed(node.opType, "Mul") {
            if isSixth(rw.scalarConstant(node.input(1))) { return node.input(0) }
            if isSixth(rw.scalarConstant(node.input(0))) { return node.input(1) }
        }
        return nil
    }

    private func fuseHardSigmoid(_ node: Node, rw: GraphRewriter) -> Bool {
        guard let a = dividend(ofSixth: node, rw: rw), rw.isOnlyUse(a, by: node),
              let (x, nodes) = relu6OfXPlus3(a, rw: rw) else { return false }
        let result = node.outputs[0]
        node.setOutputs([])
        rw.insert(hardSigmoid(x, output: result, name: node.name, rw: rw), before: node)
        rw.remove([node] + nodes.reversed())
        return true
    }

    private func fuseHardSwish(_ node: Node, rw: GraphRewriter) -> Bool {
        let result = node.outputs[0]
        // (x · Clip(x + 3, 0, 6)) / 6
        if let product = dividend(ofSixth: node, rw: rw), rw.isOnlyUse(product, by: node), let mul = product.producer,
           mul.opType == "Mul", isONNX(mul), mul.inputs.count == 2 {
            for (d, r) in [(0, 1), (1, 0)] {
                guard let x = mul.input(d), let relu6 = mul.input(r), rw.isOnlyUse(relu6, by: mul),
                      let (inner, nodes) = relu6OfXPlus3(relu6, rw: rw), inner === x else { continue }
                node.setOutputs([])
                emitHardSwish(x, output: result, name: node.name, before: node, rw: rw)
                rw.remove([node, mul] + nodes.reversed())
                return true
            }
        }
        // x · HardSigmoid(x, 1/6, 0.5), opset ≥ 14 only.
        guard rw.opset >= 14, node.opType == "Mul", isONNX(node), node.inputs.count == 2 else { return false }
        for (d, h) in [(0, 1), (1, 0)] {
            guard let x = node.input(d), rw.constant(x) == nil, let gate = node.input(h), let sigmoid = gate.producer,
                  sigmoid.opType == "HardSigmoid", isONNX(sigmoid), sigmoid.input(0) === x, rw.isOnlyUse(gate, by: node),
                  isSixth(sigmoid.floatAttribute("alpha").map(Double.init)), sigmoid.floatAttribute("beta") == 0.5
            else { continue }
            node.setOutputs([])
            emitHardSwish(x, output: result, name: node.name, before: node, rw: rw)
            rw.remove([node, sigmoid])
            return true
        }
        return false
    }

    private func emitHardSwish(_ x: Value, output: Value, name: String, before anchor: Node, rw: GraphRewriter) {
        let base = name.isEmpty ? output.name : name
        if rw.opset >= 14 {
            rw.insert(rw.makeNode("HardSwish", name: base, inputs: [x], outputs: [output]), before: anchor)
        } else {
            let gate = rw.makeValue("\(base)_gate", type: output.type)
            rw.insert(hardSigmoid(x, output: gate, name: "\(base)_gate", rw: rw), before: anchor)
            rw.insert(rw.makeNode("Mul", name: base, inputs: [x, gate], outputs: [output]), before: anchor)
        }
    }

    private func hardSigmoid(_ x: Value, output: Value, name: String, rw: GraphRewriter) -> Node {
        rw.makeNode("HardSigmoid", name: name.isEmpty ? "\(output.name)_hard_sigmoid" : name, inputs: [x], outputs: [output],
                    attributes: [Attribute("alpha", .float(Float(Self.sixth))), Attribute("beta", .float(0.5))])
    }
}
