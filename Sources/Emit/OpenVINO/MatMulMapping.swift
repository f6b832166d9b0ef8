import IR

/// MatMul → MatMul:opset1; Gemm → MatMul (transpose_a/transpose_b) with α folded into a constant B (else a
/// Multiply), + Add of β·C (folded when C is constant). Legacy MYRIAD turns MatMul + Add into FullyConnected.
extension Lowering {
    static let matMulLowerings: [String: OpLowering] = [
        "MatMul": { node, l in
            try l.emit(node, type: "MatMul", version: "opset1",
                       data: [("transpose_a", "false"), ("transpose_b", "false")],
                       inputs: [try l.input(node, 0), try l.input(node, 1)])
        },
        "Gemm": { node, l in try l.lowerGemm(node) },
    ]

    func lowerGemm(_ node: Node) throws {
        let alpha = node.attribute("alpha")?.float ?? 1
        let beta = node.attribute("beta")?.float ?? 1
        let transA = (node.attribute("transA")?.int ?? 0) != 0
        let transB = (node.attribute("transB")?.int ?? 0) != 0
        let out = try outputType(node)
        let broadcast = [("auto_broadcast", "numpy")]
        let a = try input(node, 0)
        var b: IRPort
        var scaleAfter = alpha != 1
        if alpha != 1, let bValue = node.input(1), let tensor = constantTensor(bValue), tensor.elementType != .float16 {
            b = try weightConst(tensor.floatValues().map { $0 * alpha }, shape: tensor.shape, name: "\(bValue.name)/alpha")
            scaleAfter = false
        } else {
            b = try input(node, 1)
        }
        let matmulData = [("transpose_a", transA ? "true" : "false"), ("transpose_b", transB ? "true" : "false")]
        let hasC = node.input(2) != nil && beta != 0
        if !hasC && !scaleAfter {
            try emit(node, type: "MatMul", version: "opset1", data: matmulData, inputs: [a, b])
            return
        }
        var product = helper(node, "MatMul", type: "MatMul", version: "opset1", data: matmulData, inputs: [a, b], output: out)
        if scaleAfter {
            let alphaPort = float32Const([alpha], shape: [1], name: layerName(node, "alpha"))
            if !hasC {
                try emit(node, type: "Multiply", version: "opset1", data: broadcast, inputs: [product, alphaPort])
                return
            }
            product = helper(node, "alpha", type: "Multiply", version: "opset1", data: broadcast, inputs: [product, alphaPort], output: out)
        }
        var c: IRPort
        if beta != 1, let cValue = node.input(2), let tensor = constantTensor(cValue) {
            c = try weightConst(tensor.floatValues().map { $0 * beta }, shape: tensor.shape, name: "\(cValue.name)/beta")
        } else {
            c = try input(node, 2)
            if beta != 1 {
                let betaPort = float32Const([beta], shape: [1], name: layerName(node, "beta"))
                c = helper(node, "beta", type: "Multiply", version: "opset1", data: broadcast, inputs: [c, betaPort],
                           output: builder.type(of: c))
            }
        }
        try emit(node, type: "Add", version: "opset1", data: broadcast, inputs: [product, c])
    }
}
