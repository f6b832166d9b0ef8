import IR

/// Turns `Constant` nodes of the main graph into initializers (paddle2onnx exports hold every weight that way).
/// Quantization must see weights as constants: otherwise a Conv's weight would be calibrated as an activation,
/// per tensor, and never get per-channel encodings. Values keep their names, so encodings still refer to them.
public enum ConstantNodeLifting {
    /// Returns the number of nodes lifted.
    @discardableResult
    public static func run(on model: Model) -> Int {
        let graph = model.graph
        var lifted: [Node] = []
        for node in graph.nodes where node.opType == "Constant" && (node.domain.isEmpty || node.domain == "ai.onnx") {
            guard node.outputs.count == 1, let attribute = node.attributes.first, node.attributes.count == 1 else { continue }
            let tensor: Tensor
            switch attribute.value {
            case .tensor(let t): tensor = t
            case .float(let f): tensor = Tensor(scalar: f)
            case .floats(let fs): tensor = Tensor(floats: fs, shape: [fs.count])
            case .int(let i): tensor = Tensor(int64s: [i], shape: [])
            case .ints(let v): tensor = Tensor(int64s: v, shape: [v.count])
            default: continue
            }
            let value = node.outputs[0]
            node.setOutputs([])
            value.initializer = tensor
            value.type = tensor.valueType
            graph.initializers.append(value)
            lifted.append(node)
        }
        graph.remove(lifted)
        return lifted.count
    }
}
