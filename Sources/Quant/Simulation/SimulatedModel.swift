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
}

extension QuantEncoding: Hashable {
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage)
        hasher.combine(scales.count)
        hasher.combine(scales.first)
        hasher.combine(zeroPoints.first)
    }
}
