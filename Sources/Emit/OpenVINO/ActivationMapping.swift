import IR

/// Activations: one-to-one unary ops (Relu → ReLU, Ceil → Ceiling, Softplus → SoftPlus, HardSwish → HSwish, ...),
/// Clip → Clamp, LeakyRelu/PRelu → PReLU, HardSigmoid → HardSigmoid or (MYRIAD) Multiply + Add + Clamp,
/// Elu/Selu/Gelu with their attributes, Identity → no layer.
extension Lowering {
    /// ONNX op → (IR type, opset) for ops without attributes.
    private static let plainUnary: [String: (String, String)] = [
        "Relu": ("ReLU", "opset1"), "Sigmoid": ("Sigmoid", "opset1"), "Tanh": ("Tanh", "opset1"),
        "Exp": ("Exp", "opset1"), "Log": ("Log", "opset1"), "Abs": ("Abs", "opset1"), "Sqrt": ("Sqrt", "opset1"),
        "Floor": ("Floor", "opset1"), "Ceil": ("Ceiling", "opset1"), "Neg": ("Negative", "opset1"),
        "Erf": ("Erf", "opset1"), "Sin": ("Sin", "opset1"), "Cos": ("Cos", "opset1"), "Sign": ("Sign", "opset1"),
        "Softplus": ("SoftPlus", "opset4"), "HardSwish": ("HSwish", "opset4"), "Mish": ("Mish", "opset4"),
        "Not": ("LogicalNot", "opset1"),
    ]

    static let activationLowerings: [String: OpLowering] = {
        var table: [String: OpLowering] = [:]
        for (op, (type, version)) in plainUnary {
            table[op] = { node, l in try l.emit(node, type: type, version: version, inputs: [try l.input(node, 0)]) }
        }
        table["Clip"] = { node, l in try l.lowerClip(node) }
        table["LeakyRelu"] = { node, l in
            let slope = l.float32Const([node.attribute("alpha")?.float ?? 0.01], shape: [1], name: l.layerName(node, "slope"))
            try l.emit(node, type: "PReLU", version: "opset1", inputs: [try l.input(node, 0), slope])
        }
        table["PRelu"] = { node, l in try l.lowerPRelu(node) }
        table["HardSigmoid"] = { node, l in try l.lowerHardSigmoid(node) }
        table["Elu"] = { node, l in
            try l.emit(node, type: "Elu", version: "opset1", data: [("alpha", IRFormat.float(node.attribute("alpha")?.float ?? 1))],
                       inputs: [try l.input(node, 0)])
        }
        table["Selu"] = { node, l in
            let alpha = l.float32Const([node.attribute("alpha")?.float ?? 1.67326319217681884765625], shape: [1], name: l.layerName(node, "alpha"))
            let gamma = l.float32Const([node.attribute("gamma")?.float ?? 1.05070102214813232421875], shape: [1], name: l.layerName(node, "lambda"))
            try l.emit(node, type: "Selu", version: "opset1", inputs: [try l.input(node, 0), alpha, gamma])
        }
        table["Gelu"] = { node, l in
            let mode = node.attribute("approximate")?.string == "tanh" ? "TANH" : "ERF"
            try l.emit(node, type: "Gelu", version: "opset7", data: [("approximation_mode", mode)], inputs: [try l.input(node, 0)])
        }
        table["Identity"] = { node, l in
            guard let input = node.input(0), let output = node.outputs.first else { return }
            l.bind(output, to: try l.port(for: input, node: node))
        }
        return table
    }()

    /// Clamp(min, max): attributes before opset 11, constant inputs from 11 on; an absent bound is ±FLT_MAX.
    func lowerClip(_ node: Node) throws {
        var low = -Float.greatestFiniteMagnitude, high = Float.greatestFiniteMagnitude
        if opset < 11 {
            low = node.attribute("min")?.float ?? low
            high = node.attribute("max")?.float ?? high
        } else {
            if node.input(1) != nil { low = try constantFloats(node, 1, what: "min").first ?? low }
            if node.input(2) != nil { high = try constantFloats(node, 2, what: "max").first ?? high }
        }
        try emit(node, type: "Clamp", version: "opset1", data: [("min", IRFormat.float(low)), ("max", IRFormat.float(high))],
                 inputs: [try input(node, 0)])
    }

    /// PReLU slope: per-channel slopes ([C], [C,1,1], [1,C,1,1]) become the canonical 1-D [C]; a single slope [1];
    /// anything else keeps its numpy-broadcastable shape, padded to the input rank.
    func lowerPRelu(_ node: Node) throws {
        let xShape = try shape(node.input(0), of: node)
        var slopeShape = try shape(node.input(1), of: node)
        while slopeShape.first == 1, slopeShape.count > 1 { slopeShape.removeFirst() }
        let count = slopeShape.reduce(1, *)
        let target: [Int]
        if count == 1 {
            target = [1]
        } else if xShape.count >= 2, slopeShape.first == xShape[1], slopeShape.count == xShape.count - 1,
                  slopeShape.dropFirst().allSatisfy({ $0 == 1 }) {
            target = [count]
        } else if slopeShape.count == 1, xShape.count == 2, slopeShape[0] == xShape[1] {
            target = [count]
        } else {
            target = Array(repeating: 1, count: max(xShape.count - slopeShape.count, 0)) + slopeShape
        }
        try emit(node, type: "PReLU", version: "opset1", inputs: [try input(node, 0), try input(node, 1, reshapedTo: target)])
    }

    /// y = max(0, min(1, αx + β)).
    func lowerHardSigmoid(_ node: Node) throws {
        let alpha = node.attribute("alpha")?.float ?? 0.2
        let beta = node.attribute("beta")?.float ?? 0.5
        let x = try input(node, 0)
        guard options.decomposeHardSigmoid else {
            let a = float32Const([alpha], shape: [], name: layerName(node, "alpha"))
            let b = float32Const([beta], shape: [], name: layerName(node, "beta"))
            try emit(node, type: "HardSigmoid", version: "opset1", inputs: [x, a, b])
            return
        }
        let out = try outputType(node)
        let broadcast = [("auto_broadcast", "numpy")]
        let a = float32Const([alpha], shape: [1], name: layerName(node, "alpha"))
        let b = float32Const([beta], shape: [1], name: layerName(node, "beta"))
        let scaled = helper(node, "mul", type: "Multiply", version: "opset1", data: broadcast, inputs: [x, a], output: out)
        let shifted = helper(node, "add", type: "Add", version: "opset1", data: broadcast, inputs: [scaled, b], output: out)
        try emit(node, type: "Clamp", version: "opset1", data: [("min", "0"), ("max", "1")], inputs: [shifted])
    }
}
