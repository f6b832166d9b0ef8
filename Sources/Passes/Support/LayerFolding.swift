import IR

/// Folds of per-channel affine maps into the parameters of linear layers (Conv, ConvTranspose, Gemm, MatMul),
/// shared by BatchNormFolding, ConvBiasFolding and NormalizationFolding. All arithmetic is in double precision,
/// rounded to float once; new parameters are new initializers (shared weights are never modified in place).
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

    /// Number of output channels of a linear layer whose weights are constant.
    func outputChannels(of layer: Node) -> Int? { weights(of: layer)?.outputChannels }

    /// The constant weights of a linear layer, with their channel mapping.
    func weights(of layer: Node) -> LinearWeights? {
        guard isONNX(layer), let w = floatConstant(layer.input(1)) else { return nil }
        switch layer.opType {
        case "Conv", "ConvTranspose":
            guard let kind = LinearWeights.Kind.of(layer) else { return nil }
            return LinearWeights(kind: kind, shape: w.shape, values: w.values)
        case "Gemm":
            return LinearWeights(kind: .gemm(transB: (layer.attribute("transB")?.int ?? 0) != 0), shape: w.shape, values: w.values)
        case "MatMul":
            return LinearWeights(kind: .matMul, shape: w.shape, values: w.values)
        default: return nil
        }
    }

    /// Rewrites `layer`'s parameters so its output becomes `scale·y + shift` per output channel (either may be nil).
    /// MatMul turns into Gemm when a shift is needed (only for a rank-2 first input). Returns false, changing
    /// nothing, when the layer's parameters are not constant or the shapes do not fit.
    func foldOutputAffine(into layer: Node, scale: [Double]?, shift: [Double]?) -> Bool {
        guard isONNX(layer), layer.outputs.count == 1, var weights = weights(of: layer) else { return false }
        let n = weights.outputChannels
        guard scale.map({ $0.count == n }) ?? true, shift.map({ $0.count == n }) ?? true else { return false }
        let s = scale ?? Array(repeating: 1, count: n)
        let t = shift ?? Array(repeating: 0, count: n)
        switch layer.opType {
        case "Conv", "ConvTranspose":
            var bias = Array(repeating: 0.0, count: n)
            if let given = layer.input(2) {
                guard let b = floatConstant(given), b.values.count == n else { return false }
                bias = b.values
            }
            if scale != nil { weights.scaleOutputChannels(by: s) }
            let newBias = (0..<n).map { bias[$0] * s[$0] + t[$0] }
            setParameters(of: layer, weights: scale != nil ? weights.tensor() : nil,
                          bias: Tensor(floats: newBias.map { Float($0) }, shape: [n]))
        case "Gemm":
            let beta = Double(layer.attribute("beta")?.float ?? 1)
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
            setParameters(of: layer, weights: scale != nil ? weights.tensor() : nil, bias: bias)
            if bias != nil { layer.setAttribute(Attribute("beta", .float(1))) }
        case "MatMul":
            if shift != nil {
                guard layer.input(0)?.knownRank == 2 else { return false }
            }
            if scale != nil { weights.scaleOutputChannels(by: s) }
            setParameters(of: layer, weights: scale != nil ? weights.tensor() : nil,
                          bias: shift.map { Tensor(floats: $0.map { Float($0) }, shape: [n]) })
            if shift != nil { layer.opType = "Gemm" }
        default:
            return false
        }
        return true
    }

    /// Sets new weight (input 1) and bias (input 2) initializers when given; drops the old ones if dead.
    func setParameters(of layer: Node, weights: Tensor?, bias: Tensor?) {
        let base = layer.name.isEmpty ? (layer.outputs.first?.name ?? layer.opType) : layer.name
        if let weights {
            let old = layer.input(1)
            layer.setInput(1, addInitializer("\(base)_weight_folded", weights))
            removeIfDead(old)
        }
        if let bias {
            let old = layer.input(2)
            while layer.inputs.count < 3 { layer.appendInput(nil) }
            layer.setInput(2, addInitializer("\(base)_bias_folded", bias))
            removeIfDead(old)
        }
    }

    /// `layer` takes over `consumer`'s single output value (name, uses, graph-output role); the consumer and its
    /// now-dead constant inputs are removed. The layer's previous output must have had `consumer` as only reader.
    func absorb(_ consumer: Node, into layer: Node) {
        let output = consumer.outputs[0]
        consumer.setOutputs([])
        layer.setOutputs([output])
        remove([consumer])
    }

    /// `node` (the only reader of `producer`'s single output) reads `producer`'s input `keep` instead; the producer
    /// and its dead constant inputs are removed.
    func bypass(_ producer: Node, keeping keep: Value, for node: Node, at index: Int) {
        node.setInput(index, keep)
        remove([producer])
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
