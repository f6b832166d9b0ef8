import IR

/// Data movement. Reshape/Flatten/Squeeze/Unsqueeze → Reshape:opset1 to the static output shape
/// (`special_zero="false"`), Transpose, Concat, Split → VariadicSplit, Slice → StridedSlice:opset1 (the MYRIAD
/// frontend parses it; Slice-8 is too new), Gather (opset8 for 2022.3, opset7 with normalized indices for 2021.4),
/// Pad → Pad:opset1, Expand → Broadcast:opset3, Tile, Cast → Convert, DepthToSpace/SpaceToDepth.
extension Lowering {
    static let shapeLowerings: [String: OpLowering] = {
        var table: [String: OpLowering] = [:]
        for op in ["Reshape", "Flatten", "Squeeze", "Unsqueeze"] {
            table[op] = { node, l in
                let target = l.int64Const(try l.outputType(node).dims.map(Int64.init), name: l.layerName(node, "shape"))
                try l.emit(node, type: "Reshape", version: "opset1", data: [("special_zero", "false")],
                           inputs: [try l.input(node, 0), target])
            }
        }
        table["Transpose"] = { node, l in
            let rank = try l.shape(node.input(0), of: node).count
            let perm = node.attribute("perm")?.ints ?? (0..<Int64(rank)).reversed()
            let order = l.int64Const(perm, name: l.layerName(node, "order"))
            try l.emit(node, type: "Transpose", version: "opset1", inputs: [try l.input(node, 0), order])
        }
        table["Concat"] = { node, l in
            let rank = try l.outputType(node).dims.count
            var axis = Int(node.attribute("axis")?.int ?? 0)
            if axis < 0 { axis += rank }
            let inputs = try node.inputs.indices.filter { node.input($0) != nil }.map { try l.input(node, $0) }
            try l.emit(node, type: "Concat", version: "opset1", data: [("axis", String(axis))], inputs: inputs)
        }
        table["Split"] = { node, l in try l.lowerSplit(node) }
        table["Slice"] = { node, l in try l.lowerSlice(node) }
        table["Gather"] = { node, l in try l.lowerGather(node) }
        table["Pad"] = { node, l in try l.lowerPad(node) }
        table["Expand"] = { node, l in
            let target = l.int64Const(try l.outputType(node).dims.map(Int64.init), name: l.layerName(node, "shape"))
            try l.emit(node, type: "Broadcast", version: "opset3", data: [("mode", "numpy")],
                       inputs: [try l.input(node, 0), target])
        }
        table["Tile"] = { node, l in
            let repeats = l.int64Const(try l.constantInts(node, 1, what: "repeats"), name: l.layerName(node, "repeats"))
            try l.emit(node, type: "Tile", version: "opset1", inputs: [try l.input(node, 0), repeats])
        }
        table["Cast"] = { node, l in
            try l.emit(node, type: "Convert", version: "opset1",
                       data: [("destination_type", try l.outputType(node).elementName)], inputs: [try l.input(node, 0)])
        }
        table["DepthToSpace"] = { node, l in
            let mode = node.attribute("mode")?.string == "CRD" ? "depth_first" : "blocks_first"
            try l.emit(node, type: "DepthToSpace", version: "opset1",
                       data: [("block_size", String(node.attribute("blocksize")?.int ?? 1)), ("mode", mode)],
                       inputs: [try l.input(node, 0)])
        }
        table["SpaceToDepth"] = { node, l in
            try l.emit(node, type: "SpaceToDepth", version: "opset1",
                       data: [("block_size", String(node.attribute("blocksize")?.int ?? 1)), ("mode", "blocks_first")],
                       inputs: [try l.input(node, 0)])
        }
        // Shape computations on static shapes are constants (what -O1's folding would make of them).
        table["Shape"] = { node, l in
            let dims = try l.shape(node.input(0), of: node).map(Int64.init)
            let rank = Int64(dims.count)
            func clamp(_ v: Int64) -> Int { Int(min(max(v < 0 ? v + rank : v, 0), rank)) }
            let start = clamp(node.attribute("start")?.int ?? 0), end = clamp(node.attribute("end")?.int ?? rank)
            let slice = start < end ? Array(dims[start..<end]) : []
            try l.bindConstant(node, Tensor(int64s: slice, shape: [slice.count]))
        }
        table["Size"] = { node, l in
            try l.bindConstant(node, Tensor(int64s: [Int64(try l.shape(node.input(0), of: node).reduce(1, *))], shape: []))
        }
        table["ConstantOfShape"] = { node, l in
            let type = try l.outputType(node)
            let fill = node.attribute("value")?.tensor?.floatValues().first ?? 0
            let count = type.dims.reduce(1, *)
            guard type.elementType == .float || type.elementType == .int64 else {
                throw MCCError.unsupported("\(node.label): ConstantOfShape of \(type.elementType)")
            }
            let tensor = type.elementType == .float
                ? Tensor(floats: Array(repeating: fill, count: count), shape: type.dims)
                : Tensor(int64s: Array(repeating: Int64(fill), count: count), shape: type.dims)
            try l.bindConstant(node, tensor)
        }
        table["Range"] = { node, l in
            let start = try l.constantFloats(node, 0, what: "start").first ?? 0
            let limit = try l.constantFloats(node, 1, what: "limit").first ?? 0
            let delta = try l.constantFloats(node, 2, what: "delta").first ?? 1
            let type = try l.outputType(node)
            let count = type.dims.first ?? 0
            guard delta != 0, count == max(Int((Double(limit - start) / Double(delta)).rounded(.up)), 0) else {
                throw MCCError.failure("\(node.label): Range size does not match its inferred shape")
            }
            if type.elementType == .float {
                try l.bindConstant(node, Tensor(floats: (0..<count).map { start + Float($0) * delta }, shape: [count]))
            } else {
                let s = try l.constantInts(node, 0, what: "start").first ?? 0
                let d = try l.constantInts(node, 2, what: "delta").first ?? 1
                let values = (0..<Int64(count)).map { s + $0 * d }
                try l.bindConstant(node, type.elementType == .int32
                    ? Tensor(.int32, shape: [count], values: values.map { Int32(truncatingIfNeeded: $0) })
                    : Tensor(int64s: values, shape: [count]))
            }
        }
        return table
    }()

    func lowerSplit(_ node: Node) throws {
        let dims = try shape(node.input(0), of: node)
        var axis = Int(node.attribute("axis")?.int ?? 0)
        if axis < 0 { axis += dims.count }
        guard axis >= 0, axis < dims.count else { throw MCCError.failure("\(node.label): axis out of range") }
        // The lengths are the outputs' static sizes along the axis, whichever way ONNX expressed them.
        let types = try node.outputs.indices.map { try outputType(node, $0) }
        let lengths = types.map { Int64($0.dims[axis]) }
        let axisPort = int64Const([Int64(axis)], shape: [], name: layerName(node, "axis"))
        let lengthsPort = int64Const(lengths, name: layerName(node, "split_lengths"))
        let ports = builder.addLayer(type: "VariadicSplit", version: "opset1", name: layerName(node),
                                     inputs: [try input(node, 0), axisPort, lengthsPort], outputs: types)
        for (output, port) in zip(node.outputs, ports) { bind(output, to: port) }
    }

    func lowerSlice(_ node: Node) throws {
        let dims = try shape(node.input(0), of: node)
        let rank = dims.count
        let starts, ends: [Int64]
        var axes: [Int64], steps: [Int64]
        if opset < 10 {
            starts = node.attribute("starts")?.ints ?? []
            ends = node.attribute("ends")?.ints ?? []
            axes = node.attribute("axes")?.ints ?? (0..<Int64(starts.count)).map { $0 }
            steps = Array(repeating: 1, count: starts.count)
        } else {
            starts = try constantInts(node, 1, what: "starts")
            ends = try constantInts(node, 2, what: "ends")
            axes = node.input(3) != nil ? try constantInts(node, 3, what: "axes") : (0..<Int64(starts.count)).map { $0 }
            steps = node.input(4) != nil ? try constantInts(node, 4, what: "steps") : Array(repeating: 1, count: starts.count)
        }
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw MCCError.failure("\(node.label): starts/ends/axes/steps lengths differ")
        }
        var begin = [Int64](repeating: 0, count: rank), end = [Int64](repeating: 0, count: rank)
        var stride = [Int64](repeating: 1, count: rank)
        var beginMask = [Int64](repeating: 1, count: rank), endMask = [Int64](repeating: 1, count: rank)
        for k in starts.indices {
            var a = Int(axes[k])
            if a < 0 { a += rank }
            guard a >= 0, a < rank, steps[k] != 0 else { throw MCCError.failure("\(node.label): bad axis or zero step") }
            let d = Int64(dims[a])
            var s = starts[k] < 0 ? starts[k] + d : starts[k]
            var e = ends[k] < 0 ? ends[k] + d : ends[k]
            stride[a] = steps[k]
            beginMask[a] = 0
            endMask[a] = 0
            if steps[k] > 0 {
                s = min(max(s, 0), d)
                e = min(max(e, 0), d)
            } else {
                s = min(max(s, 0), d - 1)
                e = min(max(e, -1), d - 1)
                // End −1 means "through index 0"; StridedSlice would read −1 as the last element.
                if e == -1 { endMask[a] = 1; e = 0 }
            }
            begin[a] = s
            end[a] = e
        }
        let name = layerName(node)
        let zeros = [Int64](repeating: 0, count: rank)
        try emit(node, type: "StridedSlice", version: "opset1",
                 data: [("begin_mask", IRFormat.ints(beginMask)), ("end_mask", IRFormat.ints(endMask)),
                        ("new_axis_mask", IRFormat.ints(zeros)), ("shrink_axis_mask", IRFormat.ints(zeros)),
                        ("ellipsis_mask", IRFormat.ints(zeros))],
                 inputs: [try input(node, 0), int64Const(begin, name: "\(name)/begin"),
                          int64Const(end, name: "\(name)/end"), int64Const(stride, name: "\(name)/stride")])
    }

    func lowerGather(_ node: Node) throws {
        let dims = try shape(node.input(0), of: node)
        var axis = Int(node.attribute("axis")?.int ?? 0)
        if axis < 0 { axis += dims.count }
        guard axis >= 0, axis < dims.count else { throw MCCError.failure("\(node.label): axis out of range") }
        let indices: IRPort
        if let constant = constantTensor(node.input(1)) {
            // Normalized so that Gather-7 (no negative indices) and Gather-8 agree.
            let d = Int64(dims[axis])
            indices = int64Const(constant.int64Values().map { $0 < 0 ? $0 + d : $0 }, shape: constant.shape,
                                 name: node.input(1)?.name ?? layerName(node, "indices"))
        } else {
            indices = try input(node, 1)
        }
        let axisPort = int64Const([Int64(axis)], shape: [], name: layerName(node, "axis"))
        let version = options.maxOpset >= 8 ? "opset8" : "opset7"
        try emit(node, type: "Gather", version: version, data: [("batch_dims", "0")],
                 inputs: [try input(node, 0), indices, axisPort])
    }

    func lowerPad(_ node: Node) throws {
        let dims = try shape(node.input(0), of: node)
        let rank = dims.count
        var pads: [Int64]
        var value: Float = 0
        if opset < 11 {
            pads = node.attribute("pads")?.ints ?? []
            value = node.attribute("value")?.float ?? 0
        } else {
            pads = try constantInts(node, 1, what: "pads")
            if node.input(2) != nil { value = try constantFloats(node, 2, what: "constant_value").first ?? 0 }
        }
        if node.input(3) != nil {
            // Opset 18 axes: pads are given for these axes only.
            let axes = try constantInts(node, 3, what: "axes").map { Int($0 < 0 ? $0 + Int64(rank) : $0) }
            var full = [Int64](repeating: 0, count: 2 * rank)
            for (k, a) in axes.enumerated() where a >= 0 && a < rank {
                full[a] = pads[k]
                full[a + rank] = pads[k + axes.count]
            }
            pads = full
        }
        guard pads.count == 2 * rank else { throw MCCError.failure("\(node.label): pads has \(pads.count) values for rank \(rank)") }
        let mode = node.attribute("mode")?.string ?? "constant"
        guard ["constant", "reflect", "edge"].contains(mode) else {
            throw MCCError.unsupported("\(node.label): Pad mode '\(mode)'")
        }
        let name = layerName(node)
        var inputs = [try input(node, 0), int64Const(Array(pads[0..<rank]), name: "\(name)/pads_begin"),
                      int64Const(Array(pads[rank...]), name: "\(name)/pads_end")]
        if mode == "constant" {
            let element = node.input(0)?.elementType ?? .float
            inputs.append(element == .float ? float32Const([value], shape: [], name: "\(name)/value")
                                            : try makeConst(Tensor(int64s: [Int64(value)], shape: []), name: "\(name)/value", compress: .never))
        }
        try emit(node, type: "Pad", version: "opset1", data: [("pad_mode", mode)], inputs: inputs)
    }
}
