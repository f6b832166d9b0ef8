import IR
import Interpreter

/// Runs the float model and its simulated quantized form side by side in one interpreter pass, so every
/// quantization point can be compared with its float counterpart while both exist — without keeping any tensor
/// longer than the few nodes between the two (memory stays near that of a single run).
///
/// The two graphs are merged: the simulated copy reads the float copy's graph inputs, and each float node is
/// scheduled right before its simulated twin.
public final class Lockstep {
    public let pointNames: [String]
    public let outputNames: [String]
    let interpreter: Interpreter
    /// Float value → point index; simulated (quantized) value → point index.
    let floatPoints: [ObjectIdentifier: Int]
    let simulatedPoints: [ObjectIdentifier: Int]
    let floatOutputs: Int

    public init(floatModel: Model, plan: QuantizationPlan, threads: Int? = nil) throws {
        let reference = ModelCopy.copy(floatModel)
        let simulated = try QDQBuilder.build(floatModel, plan: plan, form: .simulation)
        let points = QuantizationPoints(model: reference)
        pointNames = points.activations.map(\.name)
        outputNames = reference.graph.outputs.map(\.name)
        var fp: [ObjectIdentifier: Int] = [:]
        for (i, v) in points.activations.enumerated() { fp[ObjectIdentifier(v)] = i }
        floatPoints = fp
        // The simulated graph keeps point names on the quantized values.
        let byName = Dictionary(points.activations.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var sp: [ObjectIdentifier: Int] = [:]
        let simGraph = simulated.graph
        for node in simGraph.nodes where node.domain == QDQBuilder.fakeQuantizeDomain {
            let out = node.outputs[0]
            // Graph-input points get a new "<name>_dequantized" value; others keep the point's name.
            let name = simGraph.inputs.contains(where: { $0 === node.inputs[0] }) ? node.inputs[0]?.name ?? out.name : out.name
            if let i = byName[name] { sp[ObjectIdentifier(out)] = i }
        }
        simulatedPoints = sp

        // Merge: simulated inputs → reference inputs; interleave nodes.
        let graph = reference.graph
        for (simInput, refInput) in zip(simGraph.inputs, graph.inputs) { simInput.replaceAllUses(with: refInput) }
        graph.initializers.append(contentsOf: simGraph.initializers)
        let floatNodes = graph.nodes
        var order: [Node] = []
        var k = 0
        for node in simGraph.nodes {
            if node.domain != QDQBuilder.fakeQuantizeDomain, k < floatNodes.count {
                order.append(floatNodes[k])
                k += 1
            }
            order.append(node)
        }
        order.append(contentsOf: floatNodes[k...])
        graph.setNodes(order)
        floatOutputs = graph.outputs.count
        graph.outputs.append(contentsOf: simGraph.outputs)
        reference.opsetImports = simulated.opsetImports
        interpreter = try Interpreter(model: reference, registry: .simulation, threads: threads)
    }

    /// Runs one sample; returns per-point and per-output comparisons (simulated vs float).
    public func compare(_ inputs: [Tensor], points: inout [ErrorAccumulator], outputs: inout [ErrorAccumulator]) throws {
        var pending: [Int: Tensor] = [:]
        var waiting: [Int: Tensor] = [:]
        var pointsCopy = points
        interpreter.observer = { [floatPoints, simulatedPoints] value, tensor in
            let id = ObjectIdentifier(value)
            if let i = floatPoints[id] {
                if let q = waiting.removeValue(forKey: i) { Self.accumulate(&pointsCopy[i], tensor, q) } else { pending[i] = tensor }
            } else if let i = simulatedPoints[id] {
                if let r = pending.removeValue(forKey: i) { Self.accumulate(&pointsCopy[i], r, tensor) } else { waiting[i] = tensor }
            }
        }
        defer { interpreter.observer = nil }
        let results = try interpreter.run(inputs)
        points = pointsCopy
        for o in 0..<floatOutputs where results[o].elementType == .float {
            Self.accumulate(&outputs[o], results[o], results[floatOutputs + o])
        }
    }

    static func accumulate(_ acc: inout ErrorAccumulator, _ reference: Tensor, _ candidate: Tensor) {
        guard reference.elementType == .float, candidate.elementType == .float,
              reference.elementCount == candidate.elementCount else { return }
        let n = reference.elementCount
        reference.withUnsafeBufferPointer(as: Float.self) { r in
            candidate.withUnsafeBufferPointer(as: Float.self) { q in
                acc.add(reference: UnsafeBufferPointer(rebasing: r.prefix(n)), candidate: UnsafeBufferPointer(rebasing: q.prefix(n)))
            }
        }
    }
}
