import IR

/// Raises a model's default-domain opset (to 13 for per-channel DequantizeLinear's `axis`, to 21 for 16-bit
/// QuantizeLinear), rewriting the ops whose meaning changed on the way so the numerics stay identical:
/// - Softmax/LogSoftmax/Hardmax (13): axis no longer flattens to 2-D; an inner axis becomes Flatten → op → Reshape;
/// - Split (13: `split` attribute → input; 18: `num_outputs` required without it);
/// - Squeeze/Unsqueeze (13) and ReduceSum (13), the other Reduce ops (18): `axes` attribute → int64 input;
/// - GridSample (20): mode names `bilinear`/`bicubic` → `linear`/`cubic`.
/// Source opsets below 11 are not handled (their Clip/Pad/Resize forms predate inputs) and are refused, as are
/// ops removed or redefined in a way with no exact rewrite (Upsample, GroupNormalization before 21, Resize's
/// `tf_half_pixel_for_nn`).
public enum OpsetUpgrade {
    static let reduceOps18: Set<String> = ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                                           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]

    /// Upgrades `model` in place to at least `target`; returns whether anything changed.
    @discardableResult
    public static func run(on model: Model, to target: Int64) throws -> Bool {
        let source = model.defaultOpset
        guard source < target else { return false }
        guard source >= 11 else {
            throw MCCError.unsupported("opset \(source): quantized ONNX needs opset \(target); upgrading from below 11 is not supported")
        }
        var counter = 0
        func constant(_ graph: Graph, _ values: [Int64], _ hint: String) -> Value {
            counter += 1
            let v = Value(name: "\(hint)_opset\(target)_\(counter)", initializer: Tensor(int64s: values, shape: [values.count]))
            graph.initializers.append(v)
            return v
        }
        func upgrade(_ graph: Graph) throws {
            var rebuilt: [Node] = []
            for node in graph.nodes {
                for sub in node.subgraphs { try upgrade(sub) }
                guard node.domain.isEmpty || node.domain == "ai.onnx" else { rebuilt.append(node); continue }
                switch node.opType {
                case "Softmax", "LogSoftmax", "Hardmax":
                    if source < 13 {
                        rebuilt.append(contentsOf: try softmax(node, graph: graph, constant: { constant(graph, $0, $1) }))
                        continue
                    }
                case "Split":
                    if source < 13, let split = node.attribute("split")?.ints {
                        node.removeAttribute("split")
                        node.setInputs([node.inputs[0], constant(graph, split, node.outputs[0].name + "_split")])
                    }
                    if target >= 18, node.input(1) == nil, node.attribute("num_outputs") == nil {
                        node.setAttribute(Attribute("num_outputs", .int(Int64(node.outputs.count))))
                    }
                case "Squeeze", "Unsqueeze":
                    if source < 13, let axes = node.attribute("axes")?.ints {
                        node.removeAttribute("axes")
                        node.setInputs([node.inputs[0], constant(graph, axes, node.outputs[0].name + "_axes")])
                    }
                case "ReduceSum" where source < 13:
                    if let axes = node.attribute("axes")?.ints {
                        node.removeAttribute("axes")
                        node.setInputs([node.inputs[0], constant(graph, axes, node.outputs[0].name + "_axes")])
                    }
                case let op where reduceOps18.contains(op) && source < 18 && target >= 18:
                    if let axes = node.attribute("axes")?.ints {
                        node.removeAttribute("axes")
                        node.setInputs([node.inputs[0], constant(graph, axes, node.outputs[0].name + "_axes")])
                    }
                case "GridSample" where source < 20 && target >= 20:
                    let mode = node.attribute("mode")?.string ?? "bilinear"
                    let renamed = ["bilinear": "linear", "bicubic": "cubic"][mode] ?? mode
                    node.setAttribute(Attribute("mode", .string(Array(renamed.utf8))))
                case "Resize" where (node.attribute("coordinate_transformation_mode")?.string ?? "") == "tf_half_pixel_for_nn":
                    throw MCCError.unsupported("\(node.label): coordinate_transformation_mode tf_half_pixel_for_nn has no opset-\(target) form")
                case "Upsample":
                    throw MCCError.unsupported("\(node.label): Upsample has no opset-\(target) form; export with Resize")
                case "GroupNormalization" where source < 21 && target >= 21:
                    throw MCCError.unsupported("\(node.label): GroupNormalization changed meaning at opset 21")
                default:
                    break
                }
                rebuilt.append(node)
            }
            graph.setNodes(rebuilt)
        }
        try upgrade(model.graph)
        model.opsetImports = model.opsetImports.map { imp in
            imp.domain.isEmpty || imp.domain == "ai.onnx" ? OpsetImport(domain: imp.domain, version: target) : imp
        }
        if !model.opsetImports.contains(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) {
            model.opsetImports.append(OpsetImport(domain: "", version: target))
        }
        model.irVersion = max(model.irVersion, target >= 21 ? 10 : 7)
        return true
    }

    /// Softmax-11 flattens the input to [∏ dims < axis, ∏ dims ≥ axis] and normalizes each row; opset 13 normalizes
    /// along `axis` only. They agree when `axis` is the last dim; otherwise Flatten(axis) → op(-1) → Reshape.
    static func softmax(_ node: Node, graph: Graph, constant: ([Int64], String) -> Value) throws -> [Node] {
        guard let x = node.input(0) else { return [node] }
        var axis = Int(node.attribute("axis")?.int ?? 1)
        guard let shape = x.shape?.staticSizes else {
            throw MCCError.unsupported("\(node.label): opset-11 \(node.opType) needs a static input shape to upgrade")
        }
        if axis < 0 { axis += shape.count }
        if axis == shape.count - 1 {
            node.setAttribute(Attribute("axis", .int(-1)))
            return [node]
        }
        let out = node.outputs[0]
        let flat = Value(name: out.name + "_flat", type: .tensor(x.elementType ?? .float,
                                                                  Shape([shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)])))
        let normalized = Value(name: out.name + "_2d", type: flat.type)
        let flatten = Node("Flatten", name: node.name + "_flatten", inputs: [x], outputs: [flat],
                           attributes: [Attribute("axis", .int(Int64(axis)))])
        node.setInputs([flat])
        node.setOutputs([normalized])
        node.setAttribute(Attribute("axis", .int(-1)))
        let reshape = Node("Reshape", name: node.name + "_reshape",
                           inputs: [normalized, constant(shape.map(Int64.init), out.name + "_shape")], outputs: [out])
        return [flatten, node, reshape]
    }
}
