import Foundation
import IR
import Kernels

// Elementwise chain fusion. Exported models spell activations out as chains of small nodes (HardSwish as
// Add(x,3) → Clip(0,6) → Mul(x,·) → Div(·,6), SiLU as Sigmoid(x) → Mul(x,·), affine blocks as Mul(c) → Add(c)).
// Run node by node, each streams the whole tensor through memory; fused, the chain's first node computes the final
// value in one cache-resident pass and the later nodes hand their input through unchanged.
//
// A chain starts at a unary activation or a binary op with one constant operand, and continues through nodes that
// are the single reader of the running value and whose other operands are constants or the chain's input x. The
// fused arithmetic is exactly that of the separate kernels (same ops in the same order), so results are identical.
// Fusion is off while an observer watches intermediate values, and only kernels registered through
// `registerFusible` (not overridden in a custom registry) take part.
//
// Conv epilogues: an activation that is the only reader of a Conv output (Relu, LeakyRelu, Clip, HardSigmoid,
// HardSwish, Sigmoid, Tanh, or SiLU spelled Sigmoid(y)·y, or y·HardSigmoid(y); LeakyRelu may be followed by Max with a
// scalar constant) runs inside the Conv kernel on each output block while
// it is in cache (the same vector function on the same float32 values, so results equal the separate nodes'); the
// activation nodes then hand their input through.

private let binaryChainOps: [String: BinaryOp] = ["Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div]
private let unaryChainOps: Set<String> = ["Relu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Clip"]

/// Wraps a fusible op kernel: runs the chain when the node heads one, hands the input through for later members.
func fusing(_ base: @escaping OpKernel) -> OpKernel {
    { ctx in
        guard ctx.interpreter.allowsFusion, ctx.interpreter.observer == nil, let graph = ctx.node.graph,
              let role = FusionPlanCache.shared.plan(for: graph, in: ctx.interpreter).roles[ObjectIdentifier(ctx.node)]
        else { return try base(ctx) }
        switch role {
        case .member(let input): return [try ctx.input(input)]
        case .head(let chain): return [try runChain(chain, ctx: ctx)]
        case .convEpilogue: return try base(ctx)
        }
    }
}

/// Nodes of one chain, head first; `links[i]` is the input of node i that carries the running value (for the head,
/// the chain input x).
struct FusionChain {
    let nodes: [Node]
    let links: [Int]
}

enum FusionRole {
    case head(FusionChain)
    /// A Conv whose output gets `activation` inside the conv kernel (its readers are members).
    case convEpilogue(UnaryOp)
    /// Input `input` already holds this node's output.
    case member(input: Int)
}

/// The chains of one graph, found greedily in node order.
struct FusionPlan {
    private(set) var roles: [ObjectIdentifier: FusionRole] = [:]

    init(_ graph: Graph, registry: OpRegistry, opset: Int64) {
        let outputs = Set(graph.outputs.map(ObjectIdentifier.init))
        for node in graph.nodes where node.opType == "Conv" && registry.isFusible(node) {
            guard let (activation, readers) = Self.convEpilogue(node, graph: graph, outputs: outputs, registry: registry,
                                                                 opset: opset) else { continue }
            roles[ObjectIdentifier(node)] = .convEpilogue(activation)
            for (reader, link) in readers { roles[ObjectIdentifier(reader)] = .member(input: link) }
        }
        for node in graph.nodes where roles[ObjectIdentifier(node)] == nil {
            guard registry.isFusible(node), let head = Self.headInput(node), let x = node.inputs[head] else { continue }
            var nodes = [node], links = [head]
            var current = node
            while current.outputs.count == 1, !outputs.contains(ObjectIdentifier(current.outputs[0])),
                  current.outputs[0].uses.count == 1, let next = current.outputs[0].uses.first?.node,
                  next.graph === graph, roles[ObjectIdentifier(next)] == nil, registry.isFusible(next),
                  let link = Self.memberInput(next, running: current.outputs[0], x: x) {
                nodes.append(next)
                links.append(link)
                current = next
            }
            guard nodes.count > 1 else { continue }
            roles[ObjectIdentifier(node)] = .head(FusionChain(nodes: nodes, links: links))
            for (member, link) in zip(nodes.dropFirst(), links.dropFirst()) { roles[ObjectIdentifier(member)] = .member(input: link) }
        }
    }

    /// The activation a Conv can apply itself, with the nodes it replaces and the input of each that then holds the
    /// activated Conv output: a single-reader activation, or Sigmoid(y) and Mul(y, sigmoid) (SiLU).
    private static func convEpilogue(
        _ conv: Node, graph: Graph, outputs: Set<ObjectIdentifier>, registry: OpRegistry, opset: Int64
    ) -> (UnaryOp, [(Node, Int)])? {
        guard conv.outputs.count == 1, let y = conv.outputs.first, !outputs.contains(ObjectIdentifier(y)) else { return nil }
        let readers = y.uses.map(\.node)
        guard readers.allSatisfy({ $0.graph === graph && registry.isFusible($0) && $0.outputs.count == 1 }) else { return nil }
        if readers.count == 1, let act = readers.first, act.inputs.first.flatMap({ $0 }) === y,
           act.inputs.dropFirst().allSatisfy({ $0 !== y }) {
            var bounds: (Float, Float)?
            if act.opType == "Clip" {
                guard clipBoundsStatic(act), let b = floatClipBounds(act, opset: opset) else { return nil }
                bounds = b
            } else if act.inputs.count != 1 {
                return nil
            }
            guard let op = chainUnaryOp(act, bounds: bounds) else { return nil }
            if case .leakyRelu(let alpha) = op,
               let (floor, link) = scalarFloor(after: act, conv: conv, graph: graph, outputs: outputs, registry: registry) {
                return (.leakyReluFloor(alpha: alpha, floor: floor), [(act, 0), (link.node, link.input)])
            }
            return (op, [(act, 0)])
        }
        guard readers.count == 2,
              let sigmoid = readers.first(where: {
                  ($0.opType == "Sigmoid" || $0.opType == "HardSigmoid") && $0.inputs.count == 1 && $0.inputs[0] === y
              }),
              let mul = readers.first(where: { $0.opType == "Mul" && $0 !== sigmoid && $0.inputs.count == 2 }),
              mul.attribute("broadcast") == nil,
              let s = sigmoid.outputs.first, s.uses.count == 1, !outputs.contains(ObjectIdentifier(s)),
              let a = mul.inputs[0], let b = mul.inputs[1], (a === y && b === s) || (a === s && b === y)
        else { return nil }
        // y · HardSigmoid(y) is HardSwish as PaddlePaddle exports it (alpha 0.1666667, not exactly 1/6).
        let gate: UnaryOp = sigmoid.opType == "Sigmoid" ? .swish(alpha: 1)
            : .hardSigmoidGate(alpha: floatAttribute(sigmoid, "alpha", default: 0.2), beta: floatAttribute(sigmoid, "beta", default: 0.5))
        return (gate, [(sigmoid, 0), (mul, a === s ? 0 : 1)])
    }

    /// The floor of a Max(a, c) that is the only reader of `act`'s output, with c a finite float32 scalar constant
    /// that does not raise the rank of the conv output (so Max's output equals its running input, elementwise).
    /// c = ±0 is left unfused: Max's own vector and scalar paths disagree on the sign of a zero tie.
    private static func scalarFloor(
        after act: Node, conv: Node, graph: Graph, outputs: Set<ObjectIdentifier>, registry: OpRegistry
    ) -> (Float, (node: Node, input: Int))? {
        guard let a = act.outputs.first, !outputs.contains(ObjectIdentifier(a)), a.uses.count == 1,
              let max = a.uses.first?.node, max.opType == "Max", max.graph === graph, registry.isFusible(max),
              max.inputs.count == 2, max.outputs.count == 1, let first = max.inputs[0], let second = max.inputs[1],
              (first === a) != (second === a)
        else { return nil }
        let link = first === a ? 0 : 1
        guard let constant = staticTensor(link == 0 ? second : first), constant.elementType == .float,
              constant.elementCount == 1, let floor = constant.floatValues().first, floor.isFinite, floor != 0
        else { return nil }
        // Conv output rank = weight rank; a constant of higher rank would broadcast the output up.
        var rank: Int?
        if let w = conv.inputs.count > 1 ? conv.inputs[1] : nil {
            rank = staticTensor(w)?.rank ?? w.type?.shape?.rank
        }
        guard let rank, constant.rank <= rank else { return nil }
        return (floor, (max, link))
    }

    /// x's input index when `node` can start a chain: a unary op, or a binary op with exactly one constant operand.
    private static func headInput(_ node: Node) -> Int? {
        guard node.outputs.count == 1 else { return nil }
        if unaryChainOps.contains(node.opType) {
            return node.inputs.first.flatMap { $0 } != nil && clipBoundsStatic(node) ? 0 : nil
        }
        guard binaryChainOps[node.opType] != nil, node.attribute("broadcast") == nil, node.inputs.count == 2,
              let a = node.inputs[0], let b = node.inputs[1] else { return nil }
        switch (staticTensor(a) != nil, staticTensor(b) != nil) {
        case (false, true): return 0
        case (true, false): return 1
        default: return nil
        }
    }

    /// The input of `node` carrying `running` when `node` can extend a chain with input `x`.
    private static func memberInput(_ node: Node, running: Value, x: Value) -> Int? {
        guard node.outputs.count == 1 else { return nil }
        if unaryChainOps.contains(node.opType) {
            return node.inputs.first.flatMap { $0 } === running && clipBoundsStatic(node) ? 0 : nil
        }
        guard binaryChainOps[node.opType] != nil, node.attribute("broadcast") == nil, node.inputs.count == 2,
              let a = node.inputs[0], let b = node.inputs[1], (a === running) != (b === running) else { return nil }
        let other = a === running ? b : a
        guard other === x || staticTensor(other) != nil else { return nil }
        return a === running ? 0 : 1
    }

    static func clipBoundsStatic(_ node: Node) -> Bool {
        guard node.opType == "Clip" else { return node.inputs.count == 1 }
        return node.inputs.dropFirst().allSatisfy { v in v.map { $0.isAbsent || staticTensor($0) != nil } ?? true }
    }
}

/// The value of a constant input (an initializer or a Constant node's output), known before the graph runs.
func staticTensor(_ value: Value) -> Tensor? {
    if let t = value.initializer { return t }
    guard let producer = value.producer, producer.opType == "Constant",
          producer.domain.isEmpty || producer.domain == "ai.onnx" else { return nil }
    return try? constantTensor(producer)
}

/// Plans per (interpreter, graph): the interpreter's registry decides which kernels may fuse.
final class FusionPlanCache: @unchecked Sendable {
    static let shared = FusionPlanCache()

    private struct Entry {
        weak var interpreter: Interpreter?
        weak var graph: Graph?
        let plan: FusionPlan
    }

    private let lock = NSLock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    func plan(for graph: Graph, in interpreter: Interpreter) -> FusionPlan {
        lock.lock()
        defer { lock.unlock() }
        let key = ObjectIdentifier(graph)
        if let e = entries[key], e.graph === graph, e.interpreter === interpreter { return e.plan }
        // Dead entries go first, so identifiers of freed graphs are never trusted.
        entries = entries.filter { $0.value.graph != nil && $0.value.interpreter != nil }
        let model = interpreter.model
        let plan = FusionPlan(graph, registry: interpreter.registry,
                              opset: model.opsetVersion(for: "") ?? model.defaultOpset)
        entries[key] = Entry(interpreter: interpreter, graph: graph, plan: plan)
        return plan
    }
}

/// Runs a whole chain from its head's context: one fused pass for float32, else node by node.
private func runChain(_ chain: FusionChain, ctx: OpContext) throws -> Tensor {
    let x = try ctx.input(chain.links[0])
    if let fused = try fusedFloatChain(chain, x: x, ctx: ctx) { return fused }
    let xValue = chain.nodes[0].inputs[chain.links[0]]
    var r = x
    for (i, (node, link)) in zip(chain.nodes, chain.links).enumerated() {
        r = try applyChainNode(node, running: r, link: link, x: x, xValue: i == 0 ? nil : xValue, ctx: ctx)
    }
    return r
}

/// One node of a chain with its own kernel's semantics (the general path: any element type, any broadcast).
private func applyChainNode(
    _ node: Node, running r: Tensor, link: Int, x: Tensor, xValue: Value?, ctx: OpContext
) throws -> Tensor {
    if let op = arithmeticOp(node.opType) {
        let other = try chainOperand(node, index: 1 - link, x: x, xValue: xValue, ctx: ctx)
        return try link == 0 ? arithmetic(op, r, other, ctx: ctx) : arithmetic(op, other, r, ctx: ctx)
    }
    switch node.opType {
    case "Clip":
        let bounds = node.inputs.dropFirst().map { v in v.flatMap { $0.isAbsent ? nil : staticTensor($0) } }
        return try clip(r, bounds: Array(bounds), node: node, ctx: ctx)
    case "HardSigmoid", "LeakyRelu":
        guard r.elementType.isFloatingPoint else { throw ctx.unsupported("\(node.opType) on \(r.elementType)") }
        fallthrough
    default:
        guard let op = chainUnaryOp(node, bounds: nil) else { throw ctx.failure("cannot fuse \(node.label)") }
        return try applyUnary(op, r, ctx: ctx)
    }
}

private func arithmeticOp(_ opType: String) -> ArithmeticOp? {
    switch opType {
    case "Add": .add
    case "Sub": .sub
    case "Mul": .mul
    case "Div": .div
    default: nil
    }
}

/// The non-running operand of a binary chain node: x, or a constant.
private func chainOperand(_ node: Node, index: Int, x: Tensor, xValue: Value?, ctx: OpContext) throws -> Tensor {
    guard let value = node.inputs[index] else { throw ctx.failure("\(node.label): missing input \(index)") }
    if value === xValue { return x }
    guard let t = staticTensor(value) else { throw ctx.failure("\(node.label): input \(index) is not constant") }
    return t
}

/// The activation a Conv kernel applies for this node (nil: none, the Conv runs as is).
func convEpilogue(_ ctx: OpContext) -> UnaryOp? {
    guard ctx.interpreter.allowsFusion, ctx.interpreter.observer == nil, let graph = ctx.node.graph,
          case .convEpilogue(let op)? = FusionPlanCache.shared.plan(for: graph, in: ctx.interpreter).roles[ObjectIdentifier(ctx.node)]
    else { return nil }
    return op
}

/// The float32 UnaryOp of a unary chain node; Clip needs its float bounds (nil: not representable).
private func chainUnaryOp(_ node: Node, bounds: (Float, Float)?) -> UnaryOp? {
    switch node.opType {
    case "Relu": return .relu
    case "Sigmoid": return .sigmoid
    case "Tanh": return .tanh
    case "HardSwish": return .hardSwish
    case "HardSigmoid":
        return .hardSigmoid(alpha: floatAttribute(node, "alpha", default: 0.2), beta: floatAttribute(node, "beta", default: 0.5))
    case "LeakyRelu": return .leakyRelu(alpha: floatAttribute(node, "alpha", default: 0.01))
    case "Clip":
        guard let (lo, hi) = bounds else { return nil }
        return floatClip(lo, hi)
    default: return nil
    }
}

/// The float32 fast path: nil when x or a constant is not float32, a constant would change the output shape, or
/// constants vary faster than per plane of ≥ 16 elements (then the general path runs).
private func fusedFloatChain(_ chain: FusionChain, x: Tensor, ctx: OpContext) throws -> Tensor? {
    guard x.elementType == .float else { return nil }
    let xValue = chain.nodes[0].inputs[chain.links[0]]
    var steps: [ChainStep] = []
    var constants: [Tensor] = []
    for (i, (node, link)) in zip(chain.nodes, chain.links).enumerated() {
        if let op = binaryChainOps[node.opType] {
            let index = 1 - link
            if i > 0, let value = node.inputs[index], value === xValue {
                steps.append(.input(op, inputFirst: index == 0))
                continue
            }
            guard let value = node.inputs[index], let c = staticTensor(value), c.elementType == .float,
                  c.rank <= x.rank, zip(c.shape.reversed(), x.shape.reversed()).allSatisfy({ $0 == 1 || $0 == $1 })
            else { return nil }
            steps.append(.operand(op, index: constants.count, operandFirst: index == 0))
            constants.append(c)
        } else {
            var bounds: (Float, Float)?
            if node.opType == "Clip" {
                guard let b = floatClipBounds(node, opset: ctx.opset) else { return nil }
                bounds = b
            }
            guard let op = chainUnaryOp(node, bounds: bounds) else { return nil }
            steps.append(.unary(op))
        }
    }
    // SiLU, x·sigmoid(x), is one vector function: same two roundings, one pass fewer over the block.
    if steps.count >= 2, steps[0] == .unary(.sigmoid), case .input(.mul, _) = steps[1] {
        steps.replaceSubrange(0..<2, with: [.unary(.swish(alpha: 1))])
    }
    // Constants are constant over the trailing axes after `last`: one value per plane of those axes.
    var last = -1
    for c in constants {
        for (i, d) in c.shape.enumerated() where d != 1 { last = max(last, x.rank - c.rank + i) }
    }
    let planeSize = x.shape[(last + 1)...].reduce(1, *)
    let count = x.elementCount
    guard count == 0 || last < 0 || planeSize >= 16 else { return nil }
    let out = try ctx.allocate(.float, x.shape)
    guard count > 0 else { return out }
    let planes = count / planeSize
    let operands = constants.map { c -> [Float] in
        let values = c.floatValues()
        guard values.count > 1 else { return values }
        let strides = broadcastStrides(shape: c.shape, to: x.shape)
        return (0..<planes).map { p in
            var rem = p, offset = 0
            for axis in stride(from: last, through: 0, by: -1) {
                offset += (rem % x.shape[axis]) * strides[axis]
                rem /= x.shape[axis]
            }
            return values[offset]
        }
    }
    x.withElements(Float.self) { px in
        elementwiseChain(steps, x: px, y: out.mutableElements(Float.self), planes: planes, planeSize: planeSize,
                         operands: operands)
    }
    return out
}

/// A float Clip's bounds as the Clip kernel reads them (attributes before opset 11, scalar inputs after).
private func floatClipBounds(_ node: Node, opset: Int64) -> (Float, Float)? {
    if opset < 11 {
        return (floatAttribute(node, "min", default: -.greatestFiniteMagnitude),
                floatAttribute(node, "max", default: .greatestFiniteMagnitude))
    }
    var bounds: [Float] = [-.infinity, .infinity]
    for index in [1, 2] where index < node.inputs.count {
        guard let value = node.inputs[index], !value.isAbsent else { continue }
        guard let t = staticTensor(value), t.elementType == .float, t.elementCount == 1 else { return nil }
        bounds[index - 1] = t.floatValues()[0]
    }
    return (bounds[0], bounds[1])
}

/// A float attribute of `node` (guard/let rather than an optional chain, see `OpContext.float`).
func floatAttribute(_ node: Node, _ name: String, default value: Float) -> Float {
    guard let attribute = node.attribute(name), let v = attribute.float else { return value }
    return v
}
