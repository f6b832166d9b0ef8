import IR

/// Conv → Convolution / GroupConvolution (+ Add bias); ConvTranspose → ConvolutionBackpropData /
/// GroupConvolutionBackpropData (+ Add bias). All opset1; pads always explicit (SAME/VALID resolved on static shapes).
extension Lowering {
    static let convLowerings: [String: OpLowering] = [
        "Conv": { node, l in try l.lowerConv(node) },
        "ConvTranspose": { node, l in try l.lowerConvTranspose(node) },
    ]

    private func spatialData(_ attrs: ConvAttributes, pads: [Int]) -> [(String, String)] {
        let n = attrs.spatialRank
        return [("strides", IRFormat.ints(attrs.strides)), ("dilations", IRFormat.ints(attrs.dilations)),
                ("pads_begin", IRFormat.ints(Array(pads[0..<n]))), ("pads_end", IRFormat.ints(Array(pads[n...]))),
                ("auto_pad", "explicit")]
    }

    func lowerConv(_ node: Node) throws {
        let xShape = try shape(node.input(0), of: node)
        let wShape = try shape(node.input(1), of: node)
        guard xShape.count >= 3, wShape.count == xShape.count else {
            throw MCCError.unsupported("\(node.label): Conv with input rank \(xShape.count) and weight rank \(wShape.count)")
        }
        let attrs = try ConvAttributes(node: node, spatialRank: xShape.count - 2, kernelShape: Array(wShape.dropFirst(2)))
        let pads = attrs.resolvedPads(inputSizes: Array(xShape.dropFirst(2)))
        let data = spatialData(attrs, pads: pads)
        let x = try input(node, 0)
        let out = try outputType(node)
        let g = attrs.group
        let conv: (String, IRPort)
        if g == 1 {
            conv = ("Convolution", try input(node, 1))
        } else {
            guard wShape[0] % g == 0 else { throw MCCError.failure("\(node.label): \(wShape[0]) filters not divisible by group \(g)") }
            conv = ("GroupConvolution", try input(node, 1, reshapedTo: [g, wShape[0] / g] + Array(wShape.dropFirst())))
        }
        guard node.input(2) != nil else {
            try emit(node, type: conv.0, version: "opset1", data: data, inputs: [x, conv.1])
            return
        }
        let raw = helper(node, "WithoutBiases", type: conv.0, version: "opset1", data: data, inputs: [x, conv.1], output: out)
        try addBias(node, raw, channels: wShape[0], rank: xShape.count)
    }

    func lowerConvTranspose(_ node: Node) throws {
        let xShape = try shape(node.input(0), of: node)
        let wShape = try shape(node.input(1), of: node)
        guard xShape.count >= 3, wShape.count == xShape.count else {
            throw MCCError.unsupported("\(node.label): ConvTranspose with input rank \(xShape.count) and weight rank \(wShape.count)")
        }
        let n = xShape.count - 2
        let attrs = try ConvAttributes(node: node, spatialRank: n, kernelShape: Array(wShape.dropFirst(2)))
        let out = try outputType(node)
        // Pads from the static output size: total = s·(in−1) + output_padding + effective kernel − out.
        var pads = attrs.pads
        if attrs.outputShape != nil || attrs.autoPad != .notSet {
            pads = Array(repeating: 0, count: 2 * n)
            for a in 0..<n {
                let total = attrs.strides[a] * (xShape[a + 2] - 1) + attrs.outputPadding[a] + attrs.effectiveKernel(a)
                    - out.dims[a + 2]
                guard total >= 0 else { throw MCCError.unsupported("\(node.label): output_shape needs negative padding") }
                let small = total / 2
                pads[a] = attrs.autoPad == .sameLower ? total - small : small
                pads[a + n] = total - pads[a]
            }
        }
        var data = spatialData(attrs, pads: pads)
        data.append(("output_padding", IRFormat.ints(attrs.outputPadding)))
        let x = try input(node, 0)
        let g = attrs.group
        let type: String
        let w: IRPort
        if g == 1 {
            (type, w) = ("ConvolutionBackpropData", try input(node, 1))
        } else {
            guard wShape[0] % g == 0 else { throw MCCError.failure("\(node.label): \(wShape[0]) input channels not divisible by group \(g)") }
            (type, w) = ("GroupConvolutionBackpropData",
                         try input(node, 1, reshapedTo: [g, wShape[0] / g] + Array(wShape.dropFirst())))
        }
        guard node.input(2) != nil else {
            try emit(node, type: type, version: "opset1", data: data, inputs: [x, w])
            return
        }
        let raw = helper(node, "WithoutBiases", type: type, version: "opset1", data: data, inputs: [x, w], output: out)
        try addBias(node, raw, channels: wShape[1] * g, rank: xShape.count)
    }

    /// `Add(raw, bias viewed as [1, C, 1, ...])`, bound to the node's output (named after the node, as ovc does).
    private func addBias(_ node: Node, _ raw: IRPort, channels: Int, rank: Int) throws {
        let bias = try input(node, 2, reshapedTo: [1, channels] + Array(repeating: 1, count: rank - 2))
        try emit(node, type: "Add", version: "opset1", data: [("auto_broadcast", "numpy")], inputs: [raw, bias])
    }
}
