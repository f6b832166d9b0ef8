import IR

/// Applies a `QuantizationPlan` to a copy of the float model, in one of two forms:
/// - `.onnx`: standard QDQ — QuantizeLinear → DequantizeLinear after every activation point, weights stored as
///   int8/int16 with a per-channel DequantizeLinear, biases as int32 (scale s_x·s_w), other constant operands as
///   uint8; the opset is raised as needed (13 for `axis`, 21 for 16-bit). onnxruntime runs it and QAIRT reads it.
/// - `.simulation`: the same numbers for the interpreter — one `mcc.quant::FakeQuantize` node per activation point
///   and weights/biases/constants replaced by their dequantized values.
///
/// Point values keep their names: the producer writes to a new `<name>_prequant` value and the dequantized result
/// takes the original value object, so every reader (and a graph output) sees the quantized tensor.
public enum QDQBuilder {
    public enum Form: Sendable { case onnx, simulation }

    public static let fakeQuantizeDomain = "mcc.quant"

    public static func build(_ model: Model, plan: QuantizationPlan, form: Form) throws -> Model {
        try buildWithHandles(model, plan: plan, form: form).model
    }

    /// Where a plan's numbers live in a built model, so a simulation can be re-parameterized in place.
    struct Handles {
        var model: Model
        /// The FakeQuantize node of each activation point (simulation form).
        var activationNodes: [Node?]
        /// The stand-in value of each weight, bias and constant (its initializer holds the dequantized data).
        var weightValues: [Value?]
        var biasValues: [Value?]
        var constantValues: [Value?]
    }

    static func buildWithHandles(_ model: Model, plan: QuantizationPlan, form: Form) throws -> Handles {
        let copy = ModelCopy.copy(model)
        let graph = copy.graph
        let points = QuantizationPoints(model: copy)
        guard points.activations.count == plan.activationEncodings.count, points.weights.count == plan.weightEncodings.count,
              points.constants.count == plan.constantEncodings.count, points.biases.count == plan.biasValues.count else {
            throw MCCError.failure("quantization plan does not match the model's quantization points")
        }
        var names = NameSource(graph)
        var after: [ObjectIdentifier: [Node]] = [:]   // nodes to emit right after a node
        var before: [ObjectIdentifier: [Node]] = [:]  // nodes to emit right before a node
        var prologue: [Node] = []
        var handles = Handles(model: copy, activationNodes: Array(repeating: nil, count: points.activations.count),
                              weightValues: Array(repeating: nil, count: points.weights.count),
                              biasValues: Array(repeating: nil, count: points.biases.count),
                              constantValues: Array(repeating: nil, count: points.constants.count))

        func encodingInputs(_ base: String, _ e: QuantEncoding) -> (scale: Value, zero: Value) {
            let perChannel = e.scales.count > 1
            let shape = perChannel ? [e.scales.count] : []
            let scale = Value(name: names.fresh(base + "_scale"), initializer: Tensor(floats: e.scales, shape: shape))
            let zero = Value(name: names.fresh(base + "_zero_point"),
                             initializer: integerTensor(e.zeroPoints, e.storage, shape: shape))
            graph.initializers.append(scale)
            graph.initializers.append(zero)
            return (scale, zero)
        }
        func axisAttributes(_ e: QuantEncoding) -> [Attribute] {
            e.scales.count > 1 ? [Attribute("axis", .int(Int64(e.axis ?? 0)))] : []
        }

        // Activations.
        for (i, value) in points.activations.enumerated() {
            let e = plan.activationEncodings[i]
            let isInput = value.producer == nil
            let source: Value
            let result: Value
            if isInput {
                source = value
                result = Value(name: names.fresh(value.name + "_dequantized"), type: value.type)
                let uses = value.uses
                for use in uses { use.node.setInput(use.index, result) }
            } else {
                guard let producer = value.producer else { continue }
                source = Value(name: names.fresh(value.name + "_prequant"), type: value.type)
                var outs = producer.outputs
                outs[value.producerOutputIndex] = source
                producer.setOutputs(outs)
                result = value
            }
            let nodes: [Node]
            switch form {
            case .simulation:
                nodes = [fakeQuantizeNode(e, input: source, output: result, name: names.fresh(value.name + "_fakequant"))]
                handles.activationNodes[i] = nodes[0]
            case .onnx:
                let (scale, zero) = encodingInputs(value.name, e)
                let q = Value(name: names.fresh(value.name + "_quantized"), type: .tensor(e.storage.elementType, value.shape))
                nodes = [
                    Node("QuantizeLinear", name: names.fresh(value.name + "_QuantizeLinear"), inputs: [source, scale, zero], outputs: [q]),
                    Node("DequantizeLinear", name: names.fresh(value.name + "_DequantizeLinear"), inputs: [q, scale, zero], outputs: [result]),
                ]
            }
            if isInput {
                prologue.append(contentsOf: nodes)
            } else if let producer = source.producer {
                after[ObjectIdentifier(producer), default: []].append(contentsOf: nodes)
            }
        }

        // Weights, biases and constant operands: a dequantized stand-in per use.
        @discardableResult
        func replace(_ node: Node, _ index: Int, encoding e: QuantEncoding, values: Tensor, base: String) -> Value? {
            switch form {
            case .simulation:
                let v = Value(name: names.fresh(base + "_fakequant"), initializer: FakeQuantize.apply(e, to: values))
                graph.initializers.append(v)
                node.setInput(index, v)
                return v
            case .onnx:
                let codes = integerTensor(WeightQuantizer.codes(values, e), e.storage, shape: values.shape)
                let q = Value(name: names.fresh(base + "_quantized"), initializer: codes)
                graph.initializers.append(q)
                let (scale, zero) = encodingInputs(base, e)
                let out = Value(name: names.fresh(base + "_dequantized"), type: .tensor(.float, Shape(values.shape)))
                let dq = Node("DequantizeLinear", name: names.fresh(base + "_DequantizeLinear"), inputs: [q, scale, zero],
                              outputs: [out], attributes: axisAttributes(e))
                before[ObjectIdentifier(node), default: []].append(dq)
                node.setInput(index, out)
                return nil
            }
        }
        for (j, w) in points.weights.enumerated() {
            guard let value = w.node.inputs[w.inputIndex], let tensor = value.initializer, tensor.elementType == .float else { continue }
            handles.weightValues[j] = replace(w.node, w.inputIndex, encoding: plan.weightEncodings[j], values: tensor, base: value.name)
        }
        for (l, b) in points.biases.enumerated() {
            guard let value = b.node.inputs[b.inputIndex], let tensor = value.initializer, tensor.elementType == .float else { continue }
            let values = plan.biasValues[l].map { Tensor(floats: $0, shape: tensor.shape) } ?? tensor
            let w = points.weights[b.weight]
            guard let activation = w.activation, let ai = points.activations.firstIndex(where: { $0 === activation }) else {
                if plan.biasValues[l] != nil || form == .simulation {
                    let v = Value(name: names.fresh(value.name + "_corrected"), initializer: values)
                    graph.initializers.append(v)
                    b.node.setInput(b.inputIndex, v)
                    handles.biasValues[l] = v
                }
                continue
            }
            let e = biasEncoding(activation: plan.activationEncodings[ai], weight: plan.weightEncodings[b.weight],
                                 bias: values.floatValues())
            handles.biasValues[l] = replace(b.node, b.inputIndex, encoding: e, values: values, base: value.name)
        }
        for (k, c) in points.constants.enumerated() {
            guard let value = c.node.inputs[c.inputIndex], let tensor = value.initializer, tensor.elementType == .float else { continue }
            handles.constantValues[k] = replace(c.node, c.inputIndex, encoding: plan.constantEncodings[k], values: tensor, base: value.name)
        }

        // Node order: prologue, then each node framed by what goes before and after it.
        var order = prologue
        for node in graph.nodes {
            order.append(contentsOf: before[ObjectIdentifier(node)] ?? [])
            order.append(node)
            order.append(contentsOf: after[ObjectIdentifier(node)] ?? [])
        }
        graph.setNodes(order)
        let used = Set(graph.nodes.flatMap { $0.inputs.compactMap { $0.map(ObjectIdentifier.init) } })
        let outputs = Set(graph.outputs.map(ObjectIdentifier.init))
        graph.initializers.removeAll { !used.contains(ObjectIdentifier($0)) && !outputs.contains(ObjectIdentifier($0)) }

        if form == .onnx {
            let needs16 = plan.activationBits.contains { $0 > 8 } || plan.weightBits.contains { $0 > 8 }
            let needsAxis = plan.weightEncodings.contains { $0.scales.count > 1 }
            let target: Int64 = needs16 ? 21 : (needsAxis ? 13 : 10)
            try OpsetUpgrade.run(on: copy, to: max(target, copy.defaultOpset))
        } else if !copy.opsetImports.contains(where: { $0.domain == fakeQuantizeDomain }) {
            copy.opsetImports.append(OpsetImport(domain: fakeQuantizeDomain, version: 1))
        }
        return handles
    }

    /// int32 bias encoding with scale s_x·s_w per output channel (what integer accelerators accumulate in), widened
    /// per channel where the bias would not fit 31 bits (16-bit × 16-bit grids make s_x·s_w tiny).
    static func biasEncoding(activation: QuantEncoding, weight: QuantEncoding, bias: [Float]) -> QuantEncoding {
        let sx = activation.scales[0]
        let scales = bias.indices.map { o -> Float in
            let sw = weight.scales.count == 1 ? weight.scales[0] : weight.scales[min(o, weight.scales.count - 1)]
            let s = sx * sw
            let floor = abs(bias[o]) / Float(1 << 30)
            return Swift.max(s, floor, Float.leastNormalMagnitude)
        }
        return QuantEncoding(storage: .int32, scales: scales, zeroPoints: Array(repeating: 0, count: scales.count),
                             axis: scales.count > 1 ? 0 : nil, symmetric: true)
    }

    static func fakeQuantizeNode(_ e: QuantEncoding, input: Value, output: Value, name: String) -> Node {
        Node("FakeQuantize", domain: fakeQuantizeDomain, name: name, inputs: [input], outputs: [output],
             attributes: fakeQuantizeAttributes(e))
    }

    static func fakeQuantizeAttributes(_ e: QuantEncoding) -> [Attribute] {
        var attributes = [
            Attribute("scales", .floats(e.scales)),
            Attribute("zero_points", .ints(e.zeroPoints)),
            Attribute("qmin", .int(e.qmin)),
            Attribute("qmax", .int(e.qmax)),
        ]
        if let axis = e.axis, e.scales.count > 1 { attributes.append(Attribute("axis", .int(Int64(axis)))) }
        return attributes
    }

    static func integerTensor(_ codes: [Int64], _ storage: QuantStorage, shape: [Int]) -> Tensor {
        switch storage {
        case .uint8: Tensor(.uint8, shape: shape, values: codes.map { UInt8(truncatingIfNeeded: $0) })
        case .int8: Tensor(.int8, shape: shape, values: codes.map { Int8(truncatingIfNeeded: $0) })
        case .uint16: Tensor(.uint16, shape: shape, values: codes.map { UInt16(truncatingIfNeeded: $0) })
        case .int16: Tensor(.int16, shape: shape, values: codes.map { Int16(truncatingIfNeeded: $0) })
        case .int32: Tensor(.int32, shape: shape, values: codes.map { Int32(truncatingIfNeeded: $0) })
        }
    }
}

/// Unique value/node names for inserted nodes (ONNX needs them unique within the graph).
struct NameSource {
    private var taken: Set<String>

    init(_ graph: Graph) {
        var names = Set<String>()
        for v in graph.inputs + graph.initializers + graph.outputs { names.insert(v.name) }
        for node in graph.allNodes() {
            names.insert(node.name)
            for o in node.outputs { names.insert(o.name) }
        }
        taken = names
    }

    mutating func fresh(_ base: String) -> String {
        if taken.insert(base).inserted { return base }
        var k = 1
        while !taken.insert("\(base)_\(k)").inserted { k += 1 }
        return "\(base)_\(k)"
    }
}
