import IR

/// Folds per-channel constant Add/Sub/Mul/Div next to linear layers into the layers' weights and bias.
///
/// "Per-channel constant" c: a float32 constant whose shape, left-padded with 1s to the other operand's rank r,
/// is 1 everywhere except possibly the channel axis, where it has the channel count or 1 (so it never changes the
/// result's shape). Channel axis: 1 for Conv/ConvTranspose (r = weight rank) and Gemm (r = 2), the last axis for
/// MatMul (r from its first input's type). Every intermediate value involved must be read by the rewritten node
/// only and must not be a graph output; layer weights (and bias, Gemm C) must be constant float32.
///
/// After a layer y = L(x) (L ∈ Conv, ConvTranspose, Gemm, MatMul):
/// - `y + c`, `c + y`, `y − c` → bias += ±c. Gemm: C' = beta·C + c, beta := 1. MatMul: becomes Gemm(A, B, c), only
///   when A has rank 2 (Gemm's domain).
/// - `y · c`, `c · y`, `y / c` (c without zeros; 1/c in double) → output channel m of the weights and the bias
///   scaled by c[m] (Gemm: columns of op(B) and C; MatMul: columns of B). Exact up to float rounding.
/// Before a convolution y = Conv(x, W, b) (per-input-channel constant, input channel axis 1):
/// - x = u · s, s · u, u / s → W'[m, ci, …] = W[m, ci, …]·s[(m / (M/g))·(C/g) + ci] (group-aware). Exact with any
///   padding, since zero padding of u·s equals zero padding of u scaled. Also before ConvTranspose, whose input
///   channel is W's axis 0.
/// - x = u + a, a + u, u − a → b'[m] = b[m] + Σ_{ci,k} W[m, ci, k]·a[c(m, ci)] for a Conv whose resolved padding
///   is zero (explicit pads all 0, or VALID, or SAME that resolves to 0 for the static input size). With padding
///   the border outputs would read a zero where the original read `a`; when `a` is the same on every channel this
///   is handled exactly: pad_0(u + a) = pad_{−a}(u) + a, so u gets an explicit Pad(constant −a) by the conv's pads
///   and the conv becomes pad-free with the same bias change. Per-channel shifts before a padded conv stay (ONNX Pad
///   has one fill value). Never before ConvTranspose (the number of taps landing on an output varies at borders).
/// - x = Pad(u · s, constant v) padding only spatial axes (what the previous rule creates) → Pad(u, v/s) and W
///   scaled by s as above, since pad_v(u·s) = s·pad_{v/s}(u); s must be equal on all channels unless v = 0.
/// Chains fold one node at a time (Conv → Mul → Add, Mul → Add → Conv, …) until nothing applies. Main graph only.
public struct ConvBiasFolding: Pass {
    public var name: String { "conv-bias-folding" }
    /// Constants are read by value, type and shape; single-reader tests only on non-constants (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }

    public init() {}

    static let layers: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul"]

    /// `layers.contains(op)` by length, then comparison (asked of every node; hashing the name cost more than the
    /// test, and most names differ in length from all four).
    static func isLayer(_ op: String) -> Bool {
        switch op.utf8.count {
        case 4: op == "Conv" || op == "Gemm"
        case 6: op == "MatMul"
        case 13: op == "ConvTranspose"
        default: false
        }
    }

    public func run(on model: Model, context: PassContext) throws -> Bool {
        let rw = GraphRewriter(model: model, context: context)
        var changed = false
        // A chain (Mul → Add → Conv → Mul → Add) edits the layer's weights several times: keep the edits pending
        // and write the tensor once per layer.
        rw.isStagingWeights = true
        for layer in rw.graph.nodes where Self.isLayer(layer.opType) && isONNX(layer) && layer.outputs.count == 1 && rw.isAlive(layer) {
            while foldFollowing(layer, rw: rw) { changed = true }
            if layer.opType == "Conv" || layer.opType == "ConvTranspose" {
                while foldPreceding(layer, rw: rw) { changed = true }
            }
            rw.commitStagedWeights(of: layer)
        }
        // Every rewrite here folds a node next to a layer into the layer's parameters (see `PassContext`).
        if changed { context.changeOnlyFoldedIntoLayers = true }
        return changed
    }

    // MARK: After the layer

    private func foldFollowing(_ layer: Node, rw: GraphRewriter) -> Bool {
        guard let y = layer.outputs.first, let next = rw.soleConsumer(of: y), isONNX(next), next.outputs.count == 1,
              next.inputs.count == 2, let yIndex = next.inputs.firstIndex(where: { $0 === y }),
              let (rank, axis) = rw.outputLayout(of: layer), let channels = rw.outputChannels(of: layer) else { return false }
        let other = next.inputs[1 - yIndex]
        guard let c = rw.constant(other), let perChannel = perChannelValues(c, rank: rank, axis: axis, channels: channels)
        else { return false }
        var scale: [Double]?, shift: [Double]?
        switch (next.opType, yIndex) {
        case ("Add", _): shift = perChannel
        case ("Sub", 0): shift = perChannel.map { -$0 }
        case ("Mul", _): scale = perChannel
        case ("Div", 0):
            guard !perChannel.contains(0) else { return false }
            scale = perChannel.map { 1 / $0 }
        default: return false
        }
        guard rw.foldOutputAffine(into: layer, scale: scale, shift: shift) else { return false }
        rw.absorb(next, into: layer)
        return true
    }

    // MARK: Before the convolution

    private func foldPreceding(_ conv: Node, rw: GraphRewriter) -> Bool {
        guard let x = conv.input(0), let previous = x.producer, isONNX(previous), rw.isOnlyUse(x, by: conv),
              previous.outputs.count == 1, ["Pad", "Mul", "Div", "Add", "Sub"].contains(previous.opType),
              let layout = rw.weightLayout(of: conv), var weights = rw.weights(of: conv, layout: layout) else { return false }
        if previous.opType == "Pad" { return foldScale(through: previous, into: conv, weights: &weights, rw: rw) }
        guard previous.inputs.count == 2 else { return false }
        let channels = layout.inputs
        let rank = layout.shape.count
        for (dataIndex, constIndex) in [(0, 1), (1, 0)] {
            guard let u = previous.input(dataIndex), let c = rw.constant(previous.input(constIndex)),
                  rw.constant(u) == nil, u.knownRank == rank || c.shape.count < rank,
                  let perChannel = perChannelValues(c, rank: rank, axis: 1, channels: channels)
            else { continue }
            switch (previous.opType, dataIndex) {
            case ("Mul", _), ("Div", 0):
                if previous.opType == "Div" && perChannel.contains(0) { return false }
                weights.scaleInputChannels(by: previous.opType == "Div" ? perChannel.map { 1 / $0 } : perChannel)
                rw.setParameters(of: conv, weights: weights, bias: nil)
            case ("Add", _), ("Sub", 0):
                let a = previous.opType == "Sub" ? perChannel.map { -$0 } : perChannel
                guard conv.opType == "Conv",
                      let pads = resolvedPads(of: conv, input: u, kernel: Array(weights.shape.dropFirst(2))) else { return false }
                let padded = pads.contains { $0 != 0 }
                // With padding, only a shift equal on all channels can move into an explicit Pad (ONNX Pad has a
                // single fill value).
                if padded && (!isUniform(a) || rw.opset < 2) { return false }
                let delta = weights.sumOverInputs(times: a)
                var bias = Array(repeating: 0.0, count: weights.outputChannels)
                if let given = conv.input(2) {
                    guard let b = rw.floatConstant(given), b.values.count == bias.count else { return false }
                    bias = b.values
                }
                // Float(bias + delta) per channel in a plain loop (a generic map over a zip cost more per element).
                let n = min(bias.count, delta.count)
                let newBias = [Float](unsafeUninitializedCapacity: n) { out, initialized in
                    for i in 0..<n { out[i] = Float(bias[i] + delta[i]) }
                    initialized = n
                }
                rw.setParameters(of: conv, weights: nil, bias: Tensor(floats: newBias, shape: [newBias.count]))
                if padded {
                    rw.bypass(previous, keeping: u, for: conv, at: 0)
                    rw.padExplicitly(conv, input: u, pads: pads, value: -a[0], base: conv.name.isEmpty ? u.name : conv.name)
                    return true
                }
            default:
                continue
            }
            rw.bypass(previous, keeping: u, for: conv, at: 0)
            return true
        }
        return false
    }

    /// u·s → Pad(value v) → Conv  ⇒  Pad(u, value v/s) → Conv(W·s), since pad_v(u·s) = s·pad_{v/s}(u).
    private func foldScale(through pad: Node, into conv: Node, weights: inout LinearWeights, rw: GraphRewriter) -> Bool {
        guard let value = rw.constantSpatialPadValue(pad), let v = pad.input(0), rw.isOnlyUse(v, by: pad),
              let mul = v.producer, isONNX(mul), ["Mul", "Div"].contains(mul.opType), mul.outputs.count == 1,
              mul.inputs.count == 2 else { return false }
        let rank = weights.shape.count
        for (dataIndex, constIndex) in [(0, 1), (1, 0)] where mul.opType == "Mul" || dataIndex == 0 {
            guard let u = mul.input(dataIndex), rw.constant(u) == nil, let c = rw.constant(mul.input(constIndex)),
                  u.knownRank == rank || c.shape.count < rank,
                  let perChannel = perChannelValues(c, rank: rank, axis: 1, channels: weights.inputChannels),
                  !perChannel.contains(0) else { continue }
            let factors = mul.opType == "Div" ? perChannel.map { 1 / $0 } : perChannel
            if value != 0 && !isUniform(factors) { return false }
            weights.scaleInputChannels(by: factors)
            rw.setParameters(of: conv, weights: weights, bias: nil)
            if value != 0 { rw.setPadValue(pad, value / factors[0]) }
            rw.bypass(mul, keeping: u, for: pad, at: 0)
            return true
        }
        return false
    }

}
