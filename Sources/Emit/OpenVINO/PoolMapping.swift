import IR

/// Pooling and reductions: MaxPool → MaxPool:opset1, AveragePool → AvgPool:opset1 (`exclude-pad` =
/// !count_include_pad), GlobalAverage/MaxPool → ReduceMean/ReduceMax over the spatial axes, Reduce* → Reduce*:opset1
/// (ReduceL1/L2: opset4) with an i64 axes Const.
extension Lowering {
    private static let reductions: [String: (String, String)] = [
        "ReduceMean": ("ReduceMean", "opset1"), "ReduceMax": ("ReduceMax", "opset1"), "ReduceMin": ("ReduceMin", "opset1"),
        "ReduceSum": ("ReduceSum", "opset1"), "ReduceProd": ("ReduceProd", "opset1"),
        "ReduceL1": ("ReduceL1", "opset4"), "ReduceL2": ("ReduceL2", "opset4"),
    ]

    static let poolLowerings: [String: OpLowering] = {
        var table: [String: OpLowering] = [
            "MaxPool": { node, l in try l.lowerPool(node, max: true) },
            "AveragePool": { node, l in try l.lowerPool(node, max: false) },
            "GlobalAveragePool": { node, l in try l.lowerGlobalPool(node, type: "ReduceMean") },
            "GlobalMaxPool": { node, l in try l.lowerGlobalPool(node, type: "ReduceMax") },
        ]
        for (op, (type, version)) in reductions {
            table[op] = { node, l in try l.lowerReduce(node, type: type, version: version) }
        }
        return table
    }()

    func lowerPool(_ node: Node, max isMax: Bool) throws {
        if node.outputs.count > 1, !node.outputs[1].isAbsent, !node.outputs[1].uses.isEmpty {
            throw MCCError.unsupported("\(node.label): MaxPool indices output is not supported for OpenVINO opset ≤ \(options.maxOpset)")
        }
        let xShape = try shape(node.input(0), of: node)
        guard xShape.count >= 3 else { throw MCCError.unsupported("\(node.label): pooling on rank \(xShape.count)") }
        let n = xShape.count - 2
        let attrs = try ConvAttributes(node: node, spatialRank: n)
        guard attrs.dilations.allSatisfy({ $0 == 1 }) else {
            throw MCCError.unsupported("\(node.label): dilated pooling needs MaxPool-8, which opset ≤ 7 (MYRIAD) lacks")
        }
        let spatial = Array(xShape.dropFirst(2))
        var pads = attrs.resolvedPads(inputSizes: spatial)
        let out = try outputType(node)
        let expected = Array(out.dims.dropFirst(2))
        let includePad = !isMax && (node.attribute("count_include_pad")?.int ?? 0) != 0
        // OpenVINO's ceil rounding may add a window that starts in the end padding, which ONNX drops. When that
        // happens, floor rounding with the end padding widened to exactly the expected windows is equivalent
        // (padding is ignored by max and by exclude-pad averages).
        var rounding = attrs.ceilMode ? "ceil" : "floor"
        if attrs.ceilMode {
            let ovCeil = (0..<n).map { a -> Int in
                let span = spatial[a] + pads[a] + pads[a + n] - attrs.kernelShape[a]
                return (span + attrs.strides[a] - 1) / attrs.strides[a] + 1
            }
            if ovCeil != expected {
                guard !includePad else {
                    throw MCCError.unsupported("\(node.label): ceil_mode with count_include_pad has no OpenVINO equivalent here")
                }
                rounding = "floor"
                for a in 0..<n {
                    pads[a + n] = max(0, (expected[a] - 1) * attrs.strides[a] + attrs.kernelShape[a] - spatial[a] - pads[a])
                }
            }
        }
        var data: [(String, String)] = [
            ("strides", IRFormat.ints(attrs.strides)), ("pads_begin", IRFormat.ints(Array(pads[0..<n]))),
            ("pads_end", IRFormat.ints(Array(pads[n...]))), ("kernel", IRFormat.ints(attrs.kernelShape)),
            ("rounding_type", rounding), ("auto_pad", "explicit"),
        ]
        if !isMax { data.insert(("exclude-pad", includePad ? "false" : "true"), at: 4) }
        try emit(node, type: isMax ? "MaxPool" : "AvgPool", version: "opset1", data: data, inputs: [try input(node, 0)])
    }

    func lowerGlobalPool(_ node: Node, type: String) throws {
        let rank = try shape(node.input(0), of: node).count
        let axes = int64Const((2..<rank).map(Int64.init), name: layerName(node, "axes"))
        try emit(node, type: type, version: "opset1", data: [("keep_dims", "true")], inputs: [try input(node, 0), axes])
    }

    /// Axes from the attribute (or the input from ReduceSum-13 / opset 18 on); no axes = all axes unless
    /// noop_with_empty_axes, which makes the op an identity.
    func lowerReduce(_ node: Node, type: String, version: String) throws {
        let rank = try shape(node.input(0), of: node).count
        var axes: [Int64]
        if let attr = node.attribute("axes")?.ints {
            axes = attr
        } else if node.input(1) != nil {
            axes = try constantInts(node, 1, what: "axes")
        } else {
            axes = []
        }
        if axes.isEmpty {
            if (node.attribute("noop_with_empty_axes")?.int ?? 0) != 0 {
                bind(node.outputs[0], to: try input(node, 0))
                return
            }
            axes = (0..<Int64(rank)).map { $0 }
        }
        axes = axes.map { $0 < 0 ? $0 + Int64(rank) : $0 }
        let keep = (node.attribute("keepdims")?.int ?? 1) != 0
        let axesPort = int64Const(axes, name: layerName(node, "axes"))
        try emit(node, type: type, version: version, data: [("keep_dims", keep ? "true" : "false")],
                 inputs: [try input(node, 0), axesPort])
    }
}
