import IR

/// BatchNormalization (inference) → Multiply + Add with per-channel constants folded in f32;
/// Softmax/LogSoftmax → SoftMax:opset1 / LogSoftmax:opset5 (opset < 13 semantics via Reshape when needed);
/// LayerNormalization → MVN:opset6 + Multiply + Add.
extension Lowering {
    static let normalizationLowerings: [String: OpLowering] = [
        "BatchNormalization": { node, l in try l.lowerBatchNorm(node) },
        "Softmax": { node, l in try l.lowerSoftmax(node, type: "SoftMax", version: "opset1") },
        "LogSoftmax": { node, l in try l.lowerSoftmax(node, type: "LogSoftmax", version: "opset5") },
        "LayerNormalization": { node, l in try l.lowerLayerNorm(node) },
    ]

    /// y = x·s + b with s = γ/√(σ²+ε), b = β − μ·s, computed in f32 (then compressed once, as mo did after folding).
    func lowerBatchNorm(_ node: Node) throws {
        guard node.outputs.dropFirst().allSatisfy({ $0.isAbsent || $0.uses.isEmpty }) else {
            throw MCCError.unsupported("\(node.label): BatchNormalization in training mode (running statistics outputs are used)")
        }
        let xShape = try shape(node.input(0), of: node)
        guard xShape.count >= 2 else { throw MCCError.unsupported("\(node.label): BatchNormalization on rank \(xShape.count)") }
        let gamma = try constantFloats(node, 1, what: "scale")
        let beta = try constantFloats(node, 2, what: "bias")
        let mean = try constantFloats(node, 3, what: "mean")
        let variance = try constantFloats(node, 4, what: "variance")
        let c = xShape[1]
        guard [gamma, beta, mean, variance].allSatisfy({ $0.count == c }) else {
            throw MCCError.failure("\(node.label): BatchNormalization parameters do not have \(c) channels")
        }
        let epsilon = node.attribute("epsilon")?.float ?? 1e-5
        var scale = [Float](repeating: 0, count: c)
        var bias = [Float](repeating: 0, count: c)
        for i in 0..<c {
            let s = Double(gamma[i]) / (Double(variance[i]) + Double(epsilon)).squareRoot()
            scale[i] = Float(s)
            bias[i] = Float(Double(beta[i]) - Double(mean[i]) * s)
        }
        let channelShape = [1, c] + Array(repeating: 1, count: xShape.count - 2)
        let out = try outputType(node)
        let x = try input(node, 0)
        let s = try weightConst(scale, shape: channelShape, name: layerName(node, "scale"))
        let b = try weightConst(bias, shape: channelShape, name: layerName(node, "shift"))
        let scaled = helper(node, "Multiply", type: "Multiply", version: "opset1", data: [("auto_broadcast", "numpy")],
                            inputs: [x, s], output: out)
        try emit(node, type: "Add", version: "opset1", data: [("auto_broadcast", "numpy")], inputs: [scaled, b])
    }

    /// Opset ≥ 13: one axis. Opset < 13: the input is coerced to 2-D at `axis` (default 1), which is a one-axis
    /// softmax only when every dim after `axis` but the last is 1; otherwise Reshape → SoftMax → Reshape.
    func lowerSoftmax(_ node: Node, type: String, version: String) throws {
        let dims = try shape(node.input(0), of: node)
        let rank = dims.count
        let modern = opset >= 13
        var axis = Int(node.attribute("axis")?.int ?? (modern ? -1 : 1))
        if axis < 0 { axis += rank }
        guard axis >= 0, axis < max(rank, 1) else { throw MCCError.failure("\(node.label): axis out of range for rank \(rank)") }
        let x = try input(node, 0)
        if modern || axis == rank - 1 {
            try emit(node, type: type, version: version, data: [("axis", String(axis))], inputs: [x])
            return
        }
        let flat = [dims[..<axis].reduce(1, *), dims[axis...].reduce(1, *)]
        let reshaped = reshape(x, to: flat, name: layerName(node, "flatten"))
        let out = try outputType(node)
        let soft = helper(node, "2d", type: type, version: version, data: [("axis", "1")], inputs: [reshaped],
                          output: IRTensorType(elementType: out.elementType, dims: flat))
        let target = int64Const(dims.map(Int64.init), name: layerName(node, "shape"))
        try emit(node, type: "Reshape", version: "opset1", data: [("special_zero", "false")], inputs: [soft, target])
    }

    /// MVN over axes [axis, rank) with eps inside the sqrt, then γ and β.
    func lowerLayerNorm(_ node: Node) throws {
        guard node.outputs.dropFirst().allSatisfy({ $0.isAbsent || $0.uses.isEmpty }) else {
            throw MCCError.unsupported("\(node.label): LayerNormalization mean/inv_std_dev outputs are not supported")
        }
        let dims = try shape(node.input(0), of: node)
        var axis = Int(node.attribute("axis")?.int ?? -1)
        if axis < 0 { axis += dims.count }
        let out = try outputType(node)
        let axes = int64Const((axis..<dims.count).map(Int64.init), name: layerName(node, "axes"))
        let epsilon = node.attribute("epsilon")?.float ?? 1e-5
        var last = helper(node, "mvn", type: "MVN", version: "opset6",
                          data: [("eps", IRFormat.float(epsilon)), ("normalize_variance", "true"),
                                 ("eps_mode", "inside_sqrt")],
                          inputs: [try input(node, 0), axes], output: out)
        let hasBias = node.input(2) != nil
        let scaled = [("auto_broadcast", "numpy")]
        if hasBias {
            last = helper(node, "scale", type: "Multiply", version: "opset1", data: scaled, inputs: [last, try input(node, 1)], output: out)
            try emit(node, type: "Add", version: "opset1", data: scaled, inputs: [last, try input(node, 2)])
        } else {
            try emit(node, type: "Multiply", version: "opset1", data: scaled, inputs: [last, try input(node, 1)])
        }
    }
}
