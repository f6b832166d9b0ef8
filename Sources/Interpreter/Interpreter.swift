import Dispatch
import IR
import Kernels

/// Reference interpreter over the IR: runs a model's graph node by node on the Kernels library.
///
/// Shapes are computed from the actual tensors at run time, so it needs no prior shape inference and handles
/// data-dependent shapes and control flow (If/Loop). Intermediate buffers return to a pool right after their last
/// use and are reused within and across runs. `observer` sees every value as it is produced (calibration
/// statistics, per-layer accuracy reports).
public final class Interpreter {
    public let model: Model
    public let registry: OpRegistry
    /// Called with each node output (and graph inputs) as soon as it is computed; the tensor is only valid during
    /// the call if the caller does not keep it (keeping it is fine: it then is not recycled).
    public var observer: ((Value, Tensor) -> Void)?

    /// When set, collects time per op type (`mcc run --profile`).
    public var profile: OpProfile?

    /// Main-graph values (by identity) whose tensors each run keeps in `retained` instead of recycling them.
    public var retaining: Set<ObjectIdentifier> = []
    /// The tensors of `retaining` from the last run of the main graph.
    public private(set) var retained: [ObjectIdentifier: Tensor] = [:]

    /// Fused execution (elementwise chains, conv epilogues) assumes the whole graph runs under one plan; single-node
    /// evaluation turns it off.
    var allowsFusion = true

    private let pool = BufferPool()
    private var plans: [ObjectIdentifier: GraphPlan] = [:]

    /// Prepares `model`. Throws `.unsupported` naming the first node (in any subgraph) without a kernel.
    public init(model: Model, registry: OpRegistry = .standard, threads: Int? = nil) throws {
        self.model = model
        self.registry = registry
        if let threads { KernelConfig.threads = threads }
        for node in model.graph.allNodes() where registry.kernel(for: node) == nil {
            let op = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain)::\(node.opType)"
            throw MCCError.unsupported("\(node.label): unsupported op \(op) in the interpreter")
        }
    }

    /// Runs the main graph with inputs by position (graph.inputs order). Inputs are checked against the declared
    /// element types and static dims.
    public func run(_ inputs: [Tensor]) throws -> [Tensor] {
        let graph = model.graph
        guard inputs.count == graph.inputs.count else {
            throw MCCError.failure("model takes \(graph.inputs.count) inputs (\(graph.inputs.map(\.name).joined(separator: ", "))), got \(inputs.count)")
        }
        for (value, tensor) in zip(graph.inputs, inputs) { try check(tensor, against: value) }
        return try execute(graph, inputs: inputs, parent: nil)
    }

    /// Runs the main graph from node `start` on: `values` stand for the results of the earlier nodes, at least those
    /// in `valuesLive(at: start)` (typically `retained` from an earlier run whose first `start` nodes computed the same).
    public func run(_ inputs: [Tensor], resumingAt start: Int, with values: [ObjectIdentifier: Tensor]) throws -> [Tensor] {
        let graph = model.graph
        guard inputs.count == graph.inputs.count else {
            throw MCCError.failure("model takes \(graph.inputs.count) inputs, got \(inputs.count)")
        }
        for (value, tensor) in zip(graph.inputs, inputs) { try check(tensor, against: value) }
        return try execute(graph, inputs: inputs, parent: nil, start: min(max(start, 0), graph.nodes.count), preset: values)
    }

    /// Values produced by main-graph nodes before `start` that nodes from `start` on (or the graph outputs) read,
    /// in graph order: what `run(_:resumingAt:with:)` needs.
    public func valuesLive(at start: Int) -> [Value] {
        let nodes = model.graph.nodes
        let bound = min(max(start, 0), nodes.count)
        var producedBefore = Set<ObjectIdentifier>()
        for node in nodes[..<bound] { for out in node.outputs where !out.isAbsent { producedBefore.insert(ObjectIdentifier(out)) } }
        var seen = Set<ObjectIdentifier>()
        var live: [Value] = []
        func need(_ value: Value) {
            let id = ObjectIdentifier(value)
            if producedBefore.contains(id), seen.insert(id).inserted { live.append(value) }
        }
        for node in nodes[bound...] { for value in node.transitiveInputs() { need(value) } }
        for value in model.graph.outputs { need(value) }
        return live
    }

    /// Runs the main graph with inputs by name; returns outputs by name.
    public func run(named inputs: [String: Tensor]) throws -> [String: Tensor] {
        let ordered = try model.graph.inputs.map { value -> Tensor in
            guard let t = inputs[value.name] else { throw MCCError.failure("missing model input '\(value.name)'") }
            return t
        }
        let outputs = try run(ordered)
        return Dictionary(zip(model.graph.outputs.map(\.name), outputs), uniquingKeysWith: { a, _ in a })
    }

    /// Evaluates one node of `model` on given input tensors with this interpreter's kernels (constant folding).
    /// `opset` is the version of the node's domain. The node stays where it is; results are fresh tensors (or
    /// views of the inputs for data-movement ops). Subgraph-holding nodes run too but may only read `inputs`.
    public static func evaluate(node: Node, inputs: [Tensor?], opset: Int64, registry: OpRegistry = .standard) throws -> [Tensor] {
        guard let kernel = registry.kernel(for: node) else {
            throw MCCError.unsupported("\(node.label): unsupported op \(node.opType) in the interpreter")
        }
        let host = try Interpreter(model: Model(graph: Graph()), registry: registry)
        host.allowsFusion = false
        let context = OpContext(node: node, inputs: inputs, opset: opset, pool: host.pool, interpreter: host,
                                scope: Scope(parent: nil))
        return try kernel(context)
    }

    private func check(_ tensor: Tensor, against value: Value) throws {
        guard case .tensor(let elementType, let shape)? = value.type else { return }
        guard tensor.elementType == elementType else {
            throw MCCError.failure("input '\(value.name)' must be \(elementType), got \(tensor.elementType)")
        }
        guard let shape else { return }
        let matches = shape.rank == tensor.rank && zip(shape.dims, tensor.shape).allSatisfy { d, s in d.value.map { $0 == s } ?? true }
        guard matches else {
            throw MCCError.failure("input '\(value.name)' must have shape \(shape), got \(tensor.shape)")
        }
    }

    /// Executes `graph` with `inputs` bound to its formal inputs; used for the main graph and subgraphs.
    func execute(_ graph: Graph, inputs: [Tensor], parent: Scope?, start: Int = 0,
                 preset: [ObjectIdentifier: Tensor] = [:]) throws -> [Tensor] {
        let plan = self.plan(for: graph)
        let scope = Scope(parent: parent)
        let retains = parent == nil && !retaining.isEmpty
        if parent == nil { retained = [:] }
        for (id, tensor) in preset { scope.values[id] = tensor }
        for (value, tensor) in zip(graph.inputs, inputs) {
            scope.values[ObjectIdentifier(value)] = tensor
            observer?(value, tensor)
        }
        for value in graph.initializers {
            if let t = value.initializer { scope.values[ObjectIdentifier(value)] = t }
        }
        for (index, node) in graph.nodes.enumerated() where index >= start {
            var args: [Tensor?] = []
            args.reserveCapacity(node.inputs.count)
            for input in node.inputs {
                guard let input, !input.isAbsent else { args.append(nil); continue }
                guard let t = scope.lookup(input) else {
                    throw MCCError.failure("\(node.label): input '\(input.name)' has no value at run time")
                }
                args.append(t)
            }
            guard let kernel = plan.kernels[index] else {
                throw MCCError.unsupported("\(node.label): unsupported op \(node.opType) in the interpreter")
            }
            let started = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            // The context (and its references to the inputs) ends with this call, so inputs released below are
            // uniquely referenced and go back to the pool.
            let results = try kernel(OpContext(node: node, inputs: consume args, opset: plan.opsets[index], pool: pool,
                                               interpreter: self, scope: scope))
            if profile != nil { profile?.record(node.opType, nanoseconds: DispatchTime.now().uptimeNanoseconds - started) }
            guard results.count <= node.outputs.count else {
                throw MCCError.failure("\(node.label): kernel produced \(results.count) outputs for \(node.outputs.count)")
            }
            for (value, tensor) in zip(node.outputs, results) where !value.isAbsent {
                scope.values[ObjectIdentifier(value)] = tensor
                observer?(value, tensor)
                if retains, retaining.contains(ObjectIdentifier(value)) { retained[ObjectIdentifier(value)] = tensor }
            }
            for value in plan.released[index] {
                var storage = scope.values.removeValue(forKey: ObjectIdentifier(value))?.storage
                pool.recycle(&storage)
            }
        }
        return try graph.outputs.map { value in
            guard let t = scope.lookup(value) else {
                throw MCCError.failure("graph output '\(value.name)' was not computed")
            }
            return t
        }
    }

    private func plan(for graph: Graph) -> GraphPlan {
        if let p = plans[ObjectIdentifier(graph)] { return p }
        let p = GraphPlan(graph, registry: registry, model: model)
        plans[ObjectIdentifier(graph)] = p
        return p
    }
}

/// Per-graph schedule: which node-produced values can be released after each node (their last reader).
private struct GraphPlan {
    var released: [[Value]]
    /// Kernel and opset per node, resolved once instead of per run (string-keyed lookups dominate tiny ops).
    var kernels: [OpKernel?]
    var opsets: [Int64]

    init(_ graph: Graph, registry: OpRegistry, model: Model) {
        kernels = graph.nodes.map { registry.kernel(for: $0) }
        opsets = graph.nodes.map { model.opsetVersion(for: $0.domain) ?? model.defaultOpset }
        var last: [ObjectIdentifier: (Int, Value)] = [:]
        var produced = Set<ObjectIdentifier>()
        for node in graph.nodes { for out in node.outputs { produced.insert(ObjectIdentifier(out)) } }
        let kept = Set(graph.outputs.map(ObjectIdentifier.init))
        for (i, node) in graph.nodes.enumerated() {
            for value in node.transitiveInputs() where produced.contains(ObjectIdentifier(value)) {
                last[ObjectIdentifier(value)] = (i, value)
            }
            // Outputs nobody reads can go right away.
            for out in node.outputs where out.uses.isEmpty && !kept.contains(ObjectIdentifier(out)) {
                last[ObjectIdentifier(out)] = last[ObjectIdentifier(out)] ?? (i, out)
            }
        }
        released = Array(repeating: [], count: graph.nodes.count)
        for (id, (i, value)) in last where !kept.contains(id) { released[i].append(value) }
        // Deterministic order (not needed for correctness, keeps pool behaviour reproducible).
        for i in released.indices { released[i].sort { $0.name < $1.name } }
    }
}

/// Time spent per op type across runs (nested subgraph time is also counted in the enclosing If/Loop).
public struct OpProfile: Sendable {
    public private(set) var entries: [String: (count: Int, nanoseconds: UInt64)] = [:]

    public init() {}

    mutating func record(_ opType: String, nanoseconds: UInt64) {
        let old = entries[opType] ?? (0, 0)
        entries[opType] = (old.count + 1, old.nanoseconds + nanoseconds)
    }

    /// A table sorted by total time, one op type per line.
    public var table: String {
        let total = entries.values.reduce(UInt64(0)) { $0 + $1.nanoseconds }
        var lines = ["op                         calls      total ms    share"]
        for (op, e) in entries.sorted(by: { $0.value.nanoseconds > $1.value.nanoseconds }) {
            let ms = Double(e.nanoseconds) / 1e6
            let share = total > 0 ? Double(e.nanoseconds) / Double(total) * 100 : 0
            let name = op + String(repeating: " ", count: max(0, 26 - op.count))
            let calls = String(e.count)
            lines.append("\(name) \(String(repeating: " ", count: max(0, 6 - calls.count)))\(calls)  \(formatFixed(ms, 12, 3))  \(formatFixed(share, 6, 1))%")
        }
        return lines.joined(separator: "\n")
    }
}

private func formatFixed(_ value: Double, _ width: Int, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let have = text.distance(from: dot, to: text.endIndex) - 1
        if have < decimals { text += String(repeating: "0", count: decimals - have) }
    }
    return String(repeating: " ", count: max(0, width - text.count)) + text
}
