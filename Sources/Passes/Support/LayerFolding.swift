import IR

/// Folds of per-channel affine maps into the parameters of linear layers (Conv, ConvTranspose, Gemm, MatMul),
/// shared by BatchNormFolding, ConvBiasFolding and NormalizationFolding. All arithmetic is in double precision,
/// rounded to float once (weights are read as float in place, see LinearWeights); new parameters are new
/// initializers. Folded weights reuse the old tensor's memory only when nothing else can see it (see
/// `writeWeights`): shared weights are never modified in place.
extension GraphRewriter {
    /// Rank and channel axis of a linear layer's output, when known.
    func outputLayout(of layer: Node) -> (rank: Int, axis: Int)? {
        switch layer.opType {
        case "Conv", "ConvTranspose":
            guard let rank = constant(layer.input(1))?.rank else { return nil }
            return (rank, 1)
        case "Gemm": return (2, 1)
        case "MatMul":
            guard let rank = layer.outputs.first?.knownRank ?? layer.input(0)?.knownRank, rank >= 2 else { return nil }
            return (rank, rank - 1)
        default: return nil
        }
    }

    /// Kind, shape and channel counts of a linear layer's constant float weights, without converting their values.
    func weightLayout(of layer: Node) -> (kind: LinearWeights.Kind, shape: [Int], inputs: Int, outputs: Int)? {
        guard isONNX(layer), let w = constant(layer.input(1)), w.elementType == .float else { return nil }
        let kind: LinearWeights.Kind
        switch layer.opType {
        case "Conv", "ConvTranspose":
            guard let k = LinearWeights.Kind.of(layer) else { return nil }
            kind = k
        case "Gemm": kind = .gemm(transB: (layer.intAttribute("transB") ?? 0) != 0)
        case "MatMul": kind = .matMul
        default: return nil
        }
        guard LinearWeights.fits(kind: kind, shape: w.shape) else { return nil }
        return (kind, w.shape, LinearWeights.inputChannels(kind: kind, shape: w.shape),
                LinearWeights.outputChannels(kind: kind, shape: w.shape))
    }

    /// Number of output channels of a linear layer whose weights are constant.
    func outputChannels(of layer: Node) -> Int? { weightLayout(of: layer)?.outputs }

    /// The constant weights of a linear layer, with their channel mapping (read in place, not copied).
    func weights(of layer: Node) -> LinearWeights? {
        guard let layout = weightLayout(of: layer) else { return nil }
        return weights(of: layer, layout: layout)
    }

    /// As `weights(of:)`, for a layout already computed by `weightLayout(of:)`.
    /// Weights staged by `setParameters` while `isStagingWeights` are returned with their pending edits.
    func weights(of layer: Node, layout: (kind: LinearWeights.Kind, shape: [Int], inputs: Int, outputs: Int)) -> LinearWeights? {
        if let staged = stagedWeights[ObjectIdentifier(layer)] { return staged }
        guard let w = constant(layer.input(1)) else { return nil }
        return LinearWeights(kind: layout.kind, shape: layout.shape, tensor: w)
    }

    /// Rewrites `layer`'s parameters so its output becomes `scale·y + shift` per output channel (either may be nil).
    /// MatMul turns into Gemm when a shift is needed (only for a rank-2 first input). Returns false, changing
    /// nothing, when the layer's parameters are not constant or the shapes do not fit.
    func foldOutputAffine(into layer: Node, scale: [Double]?, shift: [Double]?) -> Bool {
        guard isONNX(layer), layer.outputs.count == 1, var weights = weights(of: layer) else { return false }
        let n = weights.outputChannels
        guard scale.map({ $0.count == n }) ?? true, shift.map({ $0.count == n }) ?? true else { return false }
        switch layer.opType {
        case "Conv", "ConvTranspose":
            let bias: [Double]
            if let given = layer.input(2) {
                guard let b = floatConstant(given), b.values.count == n else { return false }
                bias = b.values
            } else {
                bias = Array(repeating: 0.0, count: n)
            }
            if let scale { weights.scaleOutputChannels(by: scale) }
            // Float(bias·s + t) per channel in one loop over the buffers (no intermediate double array); a missing
            // scale is 1 and a missing shift 0, still multiplied and added (+0 turns a −0 bias into +0), without
            // arrays of ones and zeros.
            let newBias = [Float](unsafeUninitializedCapacity: n) { out, initialized in
                bias.withUnsafeBufferPointer { b in
                    withOptionalPointer(scale) { s in
                        withOptionalPointer(shift) { t in
                            switch (s, t) {
                            case let (s?, t?): for i in 0..<n { out[i] = Float(b[i] * s[i] + t[i]) }
                            case let (s?, nil): for i in 0..<n { out[i] = Float(b[i] * s[i] + 0) }
                            case let (nil, t?): for i in 0..<n { out[i] = Float(b[i] * 1 + t[i]) }
                            case (nil, nil): for i in 0..<n { out[i] = Float(b[i] * 1 + 0) }
                            }
                        }
                    }
                }
                initialized = n
            }
            setParameters(of: layer, weights: scale != nil ? weights : nil, bias: Tensor(floats: newBias, shape: [n]))
        case "Gemm":
            let s = scale ?? Array(repeating: 1, count: n)
            let t = shift ?? Array(repeating: 0, count: n)
            let beta = Double(layer.floatAttribute("beta") ?? 1)
            var c: (values: [Double], shape: [Int])?
            if let given = layer.input(2) {
                guard let raw = floatConstant(given),
                      let b = broadcastAgainstColumns(raw.values, shape: raw.shape, columns: n) else { return false }
                c = (b.values.map { $0 * beta }, b.shape)
            }
            if scale != nil { weights.scaleOutputChannels(by: s) }
            var bias: Tensor?
            if let c {
                bias = Tensor(floats: c.values.enumerated().map { i, v in Float(v * s[i % n] + t[i % n]) }, shape: c.shape)
            } else if shift != nil {
                bias = Tensor(floats: t.map { Float($0) }, shape: [n])
            }
            setParameters(of: layer, weights: scale != nil ? weights : nil, bias: bias)
            if bias != nil { layer.setAttribute(Attribute("beta", .float(1))) }
        case "MatMul":
            if shift != nil {
                guard layer.input(0)?.knownRank == 2 else { return false }
            }
            if let scale { weights.scaleOutputChannels(by: scale) }
            setParameters(of: layer, weights: scale != nil ? weights : nil,
                          bias: shift.map { Tensor(floats: $0.map { Float($0) }, shape: [n]) })
            if shift != nil { layer.opType = "Gemm" }
        default:
            return false
        }
        return true
    }

    /// Sets new weight (input 1) and bias (input 2) initializers when given; drops the old ones if dead. While
    /// `isStagingWeights`, the weights are only recorded (see `commitStagedWeights`), so a chain of folds into one
    /// layer rewrites its weight tensor once instead of once per fold.
    func setParameters(of layer: Node, weights: LinearWeights?, bias: Tensor?) {
        let base = parameterBase(of: layer)
        if let weights {
            if isStagingWeights {
                stagedWeights[ObjectIdentifier(layer)] = weights
            } else {
                writeWeights(weights, of: layer)
            }
        }
        if let bias {
            let old = layer.input(2)
            while layer.inputs.count < 3 { layer.appendInput(nil) }
            layer.setInput(2, addInitializer("\(base)_bias_folded", bias))
            removeIfDead(old)
        }
    }

    /// Writes the weights staged for `layer` (if any) as its new weight initializer, once.
    func commitStagedWeights(of layer: Node) {
        guard let weights = stagedWeights.removeValue(forKey: ObjectIdentifier(layer)) else { return }
        writeWeights(weights, of: layer)
    }

    /// Makes `weights` (with their edits applied) `layer`'s new weight initializer and drops the old one if dead.
    /// The edits are written into the old tensor's own memory when nothing else can see it (see
    /// `LinearWeights.scaledInPlace`): the old value is read by this layer alone, is no graph input or output, and
    /// once the graph lets go of its tensor (initializer or `Constant` value), the weights hold the only reference
    /// to a writable storage. Shared or read-only weights (another value, model or copy holds the tensor; views of
    /// the loaded file) get a new tensor as before. Either way the result is the same bits under the same name.
    private func writeWeights(_ weights: LinearWeights, of layer: Node) {
        var weights = weights
        let old = layer.input(1)
        var inPlace: Tensor?
        var emptiedInitializer = false
        if weights.isEdited, let old, isOnlyUse(old, by: layer), !isGraphInput(old),
           let holder = ConstantHolder(of: old, holding: weights.sourceTensor) {
            holder.letGo()
            inPlace = weights.scaledInPlace()
            if inPlace == nil {
                holder.restore(weights.sourceTensor)
            } else if case .initializer = holder {
                emptiedInitializer = true
            }
        }
        layer.setInput(1, addInitializer("\(parameterBase(of: layer))_weight_folded", inPlace ?? weights.tensor(in: arena)))
        if emptiedInitializer, let old {
            // Dead now (its only reader moved on); `removeIfDead` recognises initializers by their tensor.
            pendingInitializers.insert(ObjectIdentifier(old))
        } else {
            removeIfDead(old)
        }
    }

    private func parameterBase(of layer: Node) -> String {
        layer.name.isEmpty ? (layer.outputs.first?.name ?? layer.opType) : layer.name
    }

    /// `layer` takes over `consumer`'s single output value (name, uses, graph-output role); the consumer and its
    /// now-dead constant inputs are removed. The layer's previous output must have had `consumer` as only reader.
    func absorb(_ consumer: Node, into layer: Node) {
        let output = consumer.outputs[0]
        consumer.setOutputs([])
        layer.setOutputs([output])
        remove(consumer)
    }

    /// `node` (the only reader of `producer`'s single output) reads `producer`'s input `keep` instead; the producer
    /// and its dead constant inputs are removed.
    func bypass(_ producer: Node, keeping keep: Value, for node: Node, at index: Int) {
        node.setInput(index, keep)
        remove(producer)
    }
}

// MARK: - Explicit padding

extension GraphRewriter {
    /// Pads `conv`'s input `x` explicitly (constant mode, `value`) by the conv's own `pads` (begins then ends per
    /// spatial axis) and makes the conv pad-free: Pad-11+ takes pads and value as inputs, Pad-2..10 as attributes.
    func padExplicitly(_ conv: Node, input x: Value, pads: [Int], value: Double, base: String) {
        let spatial = pads.count / 2
        let allPads = [0, 0] + pads[..<spatial] + [0, 0] + pads[spatial...]
        var type = x.type
        if case .tensor(let e, let shape?) = x.type, shape.rank == spatial + 2 {
            var dims = shape.dims
            for a in 0..<spatial {
                dims[a + 2] = dims[a + 2].value.map { .known($0 + pads[a] + pads[a + spatial]) } ?? .unknown
            }
            type = .tensor(e, Shape(dims))
        }
        let padded = makeValue("\(base)_input_padded", type: type)
        let mode = Attribute("mode", .string(Array("constant".utf8)))
        let node: Node
        if opset >= 11 {
            let padsValue = addInt64Initializer("\(base)_input_pads", allPads.map(Int64.init))
            let fill = addFloatInitializer("\(base)_input_pad_value", [value], shape: [])
            node = makeNode("Pad", name: "\(base)_pad", inputs: [x, padsValue, fill], outputs: [padded], attributes: [mode])
        } else {
            node = makeNode("Pad", name: "\(base)_pad", inputs: [x], outputs: [padded], attributes: [
                mode, Attribute("pads", .ints(allPads.map(Int64.init))), Attribute("value", .float(Float(value))),
            ])
        }
        insert(node, before: conv)
        conv.setInput(0, padded)
        conv.removeAttribute("auto_pad")
        conv.setAttribute(Attribute("pads", .ints(Array(repeating: 0, count: pads.count))))
    }

    /// The fill value of a constant-mode Pad that leaves axes 0 and 1 alone (so it commutes with per-channel
    /// scaling), or nil for other pads (reflect/edge modes, non-constant pads, an `axes` input).
    func constantSpatialPadValue(_ pad: Node) -> Double? {
        guard pad.opType == "Pad", isONNX(pad), (pad.stringAttribute("mode") ?? "constant") == "constant" else { return nil }
        let pads: [Int64]
        var value = 0.0
        if opset >= 11 {
            guard pad.input(3) == nil, let p = constant(pad.input(1)), p.elementType == .int64 else { return nil }
            pads = p.int64Values()
            if pad.input(2) != nil {
                guard let v = scalarConstant(pad.input(2)) else { return nil }
                value = v
            }
        } else {
            guard let p = pad.intsAttribute("pads") else { return nil }
            pads = p
            value = Double(pad.floatAttribute("value") ?? 0)
        }
        let rank = pads.count / 2
        guard rank >= 2, pads[0] == 0, pads[1] == 0, pads[rank] == 0, pads[rank + 1] == 0 else { return nil }
        return value
    }

    /// Sets a constant-mode Pad's fill value.
    func setPadValue(_ pad: Node, _ value: Double) {
        if opset >= 11 {
            let base = pad.name.isEmpty ? (pad.outputs.first?.name ?? "pad") : pad.name
            let old = pad.input(2)
            while pad.inputs.count < 3 { pad.appendInput(nil) }
            pad.setInput(2, addFloatInitializer("\(base)_value", [value], shape: []))
            removeIfDead(old)
        } else {
            pad.setAttribute(Attribute("value", .float(Float(value))))
        }
    }
}

/// A Gemm bias C broadcast against [N] (numpy rules, C of rank ≤ 2): the resulting values and shape, or nil when
/// C does not broadcast.
func broadcastAgainstColumns(_ values: [Double], shape: [Int], columns n: Int) -> (values: [Double], shape: [Int])? {
    switch shape.count {
    case 0: return (Array(repeating: values[0], count: n), [n])
    case 1:
        if shape[0] == n { return (values, [n]) }
        if shape[0] == 1 { return (Array(repeating: values[0], count: n), [n]) }
        return nil
    case 2:
        let (rows, cols) = (shape[0], shape[1])
        guard cols == n || cols == 1 else { return nil }
        var out: [Double] = []
        out.reserveCapacity(rows * n)
        for r in 0..<rows { for c in 0..<n { out.append(values[r * cols + (cols == 1 ? 0 : c)]) } }
        return (out, [rows, n])
    default: return nil
    }
}

/// The padding a convolution applies to `input` (begins then ends per spatial axis), or nil when it cannot be
/// known: malformed attributes, or SAME padding on an input without static spatial sizes.
func resolvedPads(of conv: Node, input: Value, kernel: [Int]) -> [Int]? {
    guard let attributes = try? ConvAttributes(node: conv, spatialRank: kernel.count, kernelShape: kernel) else { return nil }
    switch attributes.autoPad {
    case .valid: return Array(repeating: 0, count: 2 * kernel.count)
    case .notSet: return attributes.pads
    case .sameUpper, .sameLower:
        guard let sizes = input.shape?.staticSizes, sizes.count == kernel.count + 2 else { return nil }
        return attributes.resolvedPads(inputSizes: Array(sizes.dropFirst(2)))
    }
}

/// Calls `body` with the array's element pointer, or nil for a nil array (no array of defaults to allocate).
private func withOptionalPointer<R>(_ values: [Double]?, _ body: (UnsafePointer<Double>?) -> R) -> R {
    guard let values else { return body(nil) }
    return values.withUnsafeBufferPointer { body($0.baseAddress) }
}
