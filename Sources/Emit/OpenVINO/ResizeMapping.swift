import IR

/// Resize / Upsample → Interpolate:opset4 (data, sizes i64[rank], scales f32[rank]); `shape_calculation_mode`
/// "scales" when ONNX gave scales (their exact values drive the coordinate transform), else "sizes".
/// Interpolate-11 (what ovc 2026 writes) is not readable by 2022.3 (openvino-ir.md §2).
extension Lowering {
    static let resizeLowerings: [String: OpLowering] = [
        "Resize": { node, l in try l.lowerResize(node) },
        "Upsample": { node, l in try l.lowerResize(node) },
    ]

    func lowerResize(_ node: Node) throws {
        let inDims = try shape(node.input(0), of: node)
        let out = try outputType(node)
        let rank = inDims.count
        let legacy = node.opType == "Upsample" || opset < 11
        var scales: [Float] = []
        if node.opType == "Upsample", let attr = node.attribute("scales")?.floats {
            scales = attr
        } else {
            let scalesIndex = legacy ? 1 : 2
            if let tensor = constantTensor(node.input(scalesIndex)) {
                scales = tensor.floatValues()
            } else if node.input(scalesIndex) != nil {
                throw MCCError.unsupported("\(node.label): scales (input \(scalesIndex)) must be a constant for OpenVINO IR; compile with -O1 or higher to fold it")
            }
        }
        if !legacy, let axes = node.attribute("axes")?.ints, !scales.isEmpty {
            var full = [Float](repeating: 1, count: rank)
            for (k, a) in axes.enumerated() { full[Int(a < 0 ? a + Int64(rank) : a)] = scales[k] }
            scales = full
        }
        let useScales = scales.count == rank
        if !useScales {
            scales = (0..<rank).map { inDims[$0] == 0 ? 1 : Float(out.dims[$0]) / Float(inDims[$0]) }
        }
        let mode: String
        switch node.attribute("mode")?.string ?? "nearest" {
        case "nearest": mode = "nearest"
        case "linear", "bilinear", "trilinear": mode = "linear_onnx"
        case "cubic", "bicubic": mode = "cubic"
        case let other: throw MCCError.unsupported("\(node.label): Resize mode '\(other)'")
        }
        var coordinates = legacy ? "asymmetric" : (node.attribute("coordinate_transformation_mode")?.string ?? "half_pixel")
        let supported = ["half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners"]
        guard supported.contains(coordinates) else {
            throw MCCError.unsupported("\(node.label): Resize coordinate_transformation_mode '\(coordinates)'")
        }
        if coordinates == "half_pixel", mode == "nearest", opset < 11 { coordinates = "asymmetric" }
        let nearest = legacy ? "floor" : (node.attribute("nearest_mode")?.string ?? "round_prefer_floor")
        if (node.attribute("exclude_outside")?.int ?? 0) != 0 || (node.attribute("antialias")?.int ?? 0) != 0 {
            throw MCCError.unsupported("\(node.label): Resize exclude_outside/antialias")
        }
        let zeros = IRFormat.ints([Int](repeating: 0, count: rank))
        let data: [(String, String)] = [
            ("mode", mode), ("shape_calculation_mode", useScales ? "scales" : "sizes"),
            ("coordinate_transformation_mode", coordinates), ("nearest_mode", nearest), ("antialias", "false"),
            ("pads_begin", zeros), ("pads_end", zeros),
            ("cube_coeff", IRFormat.float(node.attribute("cubic_coeff_a")?.float ?? -0.75)),
        ]
        let name = layerName(node)
        let sizes = int64Const(out.dims.map(Int64.init), name: "\(name)/sizes")
        let scalesPort = float32Const(scales, shape: [rank], name: "\(name)/scales")
        try emit(node, type: "Interpolate", version: "opset4", data: data, inputs: [try input(node, 0), sizes, scalesPort])
    }
}
