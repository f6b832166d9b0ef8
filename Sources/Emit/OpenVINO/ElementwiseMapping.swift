import IR

/// Binary elementwise ops with numpy broadcasting (Add → Add, Sub → Subtract, Mul → Multiply, Div → Divide,
/// Pow → Power, Max/Min/Sum → chains of Maximum/Minimum/Add, comparisons, logical ops, Where → Select), plus the
/// fusions planned on Mul: x·Sigmoid(x) → Swish:opset4, x·HardSigmoid(x; 1/6, 1/2) → HSwish:opset4.
extension Lowering {
    private static let binary: [String: String] = [
        "Add": "Add", "Sub": "Subtract", "Mul": "Multiply", "Div": "Divide", "Pow": "Power",
        "Max": "Maximum", "Min": "Minimum", "Sum": "Add",
        "Equal": "Equal", "Less": "Less", "Greater": "Greater", "LessOrEqual": "LessEqual",
        "GreaterOrEqual": "GreaterEqual", "And": "LogicalAnd", "Or": "LogicalOr", "Xor": "LogicalXor",
    ]

    static let elementwiseLowerings: [String: OpLowering] = {
        var table: [String: OpLowering] = [:]
        for (op, type) in binary {
            table[op] = { node, l in try l.lowerBinary(node, type: type) }
        }
        table["Where"] = { node, l in
            try l.emit(node, type: "Select", version: "opset1", data: [("auto_broadcast", "numpy")],
                       inputs: [try l.input(node, 0), try l.input(node, 1), try l.input(node, 2)])
        }
        return table
    }()

    /// Variadic ops (Max, Min, Sum) become a left-to-right chain; the last link produces the ONNX output.
    func lowerBinary(_ node: Node, type: String) throws {
        if let fusion = fusions[ObjectIdentifier(node)] {
            switch fusion {
            case .swish(let x): try emit(node, type: "Swish", version: "opset4", inputs: [try port(for: x, node: node)])
            case .hswish(let x): try emit(node, type: "HSwish", version: "opset4", inputs: [try port(for: x, node: node)])
            }
            return
        }
        let present = node.inputs.indices.filter { node.input($0) != nil }
        guard let first = present.first else { throw MCCError.failure("\(node.label): no inputs") }
        if present.count == 1 {
            // Max/Min/Sum of one input is the input itself.
            bind(node.outputs[0], to: try input(node, first))
            return
        }
        let broadcast = [("auto_broadcast", "numpy")]
        var acc = try operand(node, first)
        for (k, i) in present.dropFirst().enumerated() {
            let rhs = try operand(node, i)
            if k == present.count - 2 {
                try emit(node, type: type, version: "opset1", data: broadcast, inputs: [acc, rhs])
            } else {
                var outType = try outputType(node)
                let a = builder.type(of: acc).dims, b = builder.type(of: rhs).dims
                outType.dims = Self.broadcastDims(a, b)
                acc = helper(node, "\(k)", type: type, version: "opset1", data: broadcast, inputs: [acc, rhs], output: outType)
            }
        }
    }

    /// An operand; a constant exponent of Pow in another element type than the base is converted to the base's.
    private func operand(_ node: Node, _ index: Int) throws -> IRPort {
        if node.opType == "Pow", index == 1, let exponent = constantTensor(node.input(1)),
           let baseType = node.input(0)?.elementType, exponent.elementType != baseType, baseType == .float {
            return try makeConst(Tensor(floats: exponent.floatValues(), shape: exponent.shape),
                                 name: node.input(1)?.name ?? layerName(node, "exponent"), compress: .never)
        }
        return try input(node, index)
    }

    static func broadcastDims(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        return zip(pa, pb).map { $0 == 1 ? $1 : $0 }
    }
}
