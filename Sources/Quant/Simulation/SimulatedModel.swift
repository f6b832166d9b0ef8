import IR
import Interpreter

/// A float model with every quantization point simulated, built once and re-parameterized in place for each
/// candidate plan: FakeQuantize attributes and the dequantized weights, biases and constants are swapped, the
/// graph and the interpreter (with its warm buffer pool) stay. This keeps a mixed-precision search to the cost of
/// its inference runs.
public final class SimulatedModel {
    public let points: QuantizationPoints
    let handles: QDQBuilder.Handles
    let interpreter: Interpreter
    /// Original float tensors of weights, biases and constants, by index.
    let weights: [Tensor?]
    let biases: [Tensor?]
    let constants: [Tensor?]
    /// Index of the activation point feeding each bias's weighted op.
    let biasActivation: [Int?]
    private var weightCache: [Int: [QuantEncoding: Tensor]] = [:]
    /// The plan last applied; only what differs from it is touched.
    private var applied: QuantizationPlan?
    private var constantsApplied = false

    public init(floatModel: Model, plan: QuantizationPlan, threads: Int? = nil) throws {
        let points = QuantizationPoints(model: floatModel)
        self.points = points
        handles = try QDQBuilder.buildWithHandles(floatModel, plan: plan, form: .simulation)
        interpreter = try Interpreter(model: handles.model, registry: .simulation, threads: threads)
        weights = points.weights.map { $0.node.inputs[$0.inputIndex]?.initializer }
        biases = points.biases.map { $0.node.inputs[$0.inputIndex]?.initializer }
        constants = points.constants.map { $0.node.inputs[$0.inputIndex]?.initializer }
        var index: [ObjectIdentifier: Int] = [:]
        for (i, v) in points.activations.enumerated() { index[ObjectIdentifier(v)] = i }
        biasActivation = points.biases.map { b in points.weights[b.weight].activation.flatMap { index[ObjectIdentifier($0)] } }
        try apply(plan)
    }

    /// Re-parameterizes the simulation for `plan` (same model, any bitwidths and ranges).
    public func apply(_ plan: QuantizationPlan) throws {
        guard plan.activationEncodings.count == handles.activationNodes.count, plan.weightEncodings.count == weights.count else {
            throw MCCError.failure("quantization plan does not match the simulated model")
        }
        let previous = applied
        applied = plan
        for (i, node) in handles.activationNodes.enumerated() {
            guard let node, previous?.activationEncodings[i] != plan.activationEncodings[i] else { continue }
            for attribute in QDQBuilder.fakeQuantizeAttributes(plan.activationEncodings[i]) { node.setAttribute(attribute) }
            if plan.activationEncodings[i].scales.count == 1 { node.removeAttribute("axis") }
        }
        for (j, value) in handles.weightValues.enumerated() {
            guard let value, let w = weights[j], previous?.weightEncodings[j] != plan.weightEncodings[j] else { continue }
            let e = plan.weightEncodings[j]
            if let cached = weightCache[j]?[e] { value.initializer = cached; continue }
            let q = FakeQuantize.apply(e, to: w)
            weightCache[j, default: [:]][e] = q
            value.initializer = q
        }
        for (l, value) in handles.biasValues.enumerated() {
            guard let value, let b = biases[l] else { continue }
            if let previous, previous.biasValues[l] == plan.biasValues[l],
               previous.weightEncodings[points.biases[l].weight] == plan.weightEncodings[points.biases[l].weight],
               biasActivation[l].map({ previous.activationEncodings[$0] == plan.activationEncodings[$0] }) ?? true { continue }
            let corrected = plan.biasValues[l].map { Tensor(floats: $0, shape: b.shape) } ?? b
            guard let a = biasActivation[l] else { value.initializer = corrected; continue }
            let e = QDQBuilder.biasEncoding(activation: plan.activationEncodings[a],
                                            weight: plan.weightEncodings[points.biases[l].weight], bias: corrected.floatValues())
            value.initializer = FakeQuantize.apply(e, to: corrected)
        }
        for (k, value) in handles.constantValues.enumerated() {
            guard let value, let c = constants[k], !constantsApplied || previous?.constantEncodings[k] != plan.constantEncodings[k] else { continue }
            value.initializer = FakeQuantize.apply(plan.constantEncodings[k], to: c)
        }
        constantsApplied = true
    }

    public func run(_ inputs: [Tensor]) throws -> [Tensor] { try interpreter.run(inputs) }

    // MARK: Resuming runs
    //
    // Candidates that differ from a base plan only late in the graph need not recompute the shared beginning: a
    // run of the base keeps the values live at the first differing node, and the candidate's run resumes there.
    // Values are named by their position in the simulation graph (node outputs in order), which is the same in
    // every simulation of one model, so one simulation's kept values serve another.

    /// Position of every node and node output of the simulation graph.
    private lazy var nodeIndex: [ObjectIdentifier: Int] = Dictionary(
        handles.model.graph.nodes.enumerated().map { (ObjectIdentifier($1), $0) }, uniquingKeysWith: { a, _ in a })
    private lazy var outputs: [Value] = handles.model.graph.nodes.flatMap { $0.outputs.filter { !$0.isAbsent } }
    private lazy var outputKey: [ObjectIdentifier: Int] = Dictionary(
        outputs.enumerated().map { (ObjectIdentifier($1), $0) }, uniquingKeysWith: { a, _ in a })

    /// The first node whose computation differs between `plan` and `base` (0 when unsure; the node count when
    /// nothing differs). Mirrors what `apply` touches.
    public func firstDifference(_ plan: QuantizationPlan, from base: QuantizationPlan) -> Int {
        var first = handles.model.graph.nodes.count
        func readers(_ value: Value?) {
            guard let value else { return }
            for use in value.uses {
                guard let k = nodeIndex[ObjectIdentifier(use.node)] else { first = 0; return }  // read inside a subgraph
                first = min(first, k)
            }
        }
        for (i, node) in handles.activationNodes.enumerated() where plan.activationEncodings[i] != base.activationEncodings[i] {
            guard let node else { continue }
            first = min(first, nodeIndex[ObjectIdentifier(node)] ?? 0)
        }
        for (j, value) in handles.weightValues.enumerated() where plan.weightEncodings[j] != base.weightEncodings[j] {
            readers(value)
        }
        for (l, value) in handles.biasValues.enumerated() {
            let w = points.biases[l].weight
            let activationChanged = biasActivation[l].map { plan.activationEncodings[$0] != base.activationEncodings[$0] } ?? false
            if plan.biasValues[l] != base.biasValues[l] || plan.weightEncodings[w] != base.weightEncodings[w] || activationChanged {
                readers(value)
            }
        }
        for (k, value) in handles.constantValues.enumerated() where plan.constantEncodings[k] != base.constantEncodings[k] {
            readers(value)
        }
        return first
    }

    /// Keys of the values a run resumed at node `start` needs, with their bytes (nil when not static).
    public func liveKeys(at start: Int) -> [(key: Int, bytes: Int?)] {
        interpreter.valuesLive(at: start).compactMap { value in
            guard let key = outputKey[ObjectIdentifier(value)] else { return nil }
            guard let sizes = value.shape?.staticSizes, let type = value.type?.elementType else { return (key, nil) }
            return (key, type.byteCount(for: sizes.reduce(1, *)))
        }
    }

    /// Runs and returns the outputs with the tensors of the values `keys`.
    public func run(_ inputs: [Tensor], keeping keys: Set<Int>) throws -> (outputs: [Tensor], kept: [Int: Tensor]) {
        guard !keys.isEmpty else { return (try run(inputs), [:]) }
        interpreter.retaining = Set(keys.compactMap { $0 < outputs.count ? ObjectIdentifier(outputs[$0]) : nil })
        defer { interpreter.retaining = [] }
        let result = try interpreter.run(inputs)
        var kept: [Int: Tensor] = [:]
        for (id, tensor) in interpreter.retained { if let key = outputKey[id] { kept[key] = tensor } }
        return (result, kept)
    }

    /// Runs from node `start` on, with `kept` (from `run(_:keeping:)` of a plan that computes the same before
    /// `start`) standing for the earlier nodes.
    public func run(_ inputs: [Tensor], resumingAt start: Int, with kept: [Int: Tensor]) throws -> [Tensor] {
        var values: [ObjectIdentifier: Tensor] = [:]
        for (key, tensor) in kept where key < outputs.count { values[ObjectIdentifier(outputs[key])] = tensor }
        return try interpreter.run(inputs, resumingAt: start, with: values)
    }
}

extension QuantEncoding: Hashable {
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage)
        hasher.combine(scales.count)
        hasher.combine(scales.first)
        hasher.combine(zeroPoints.first)
    }
}
