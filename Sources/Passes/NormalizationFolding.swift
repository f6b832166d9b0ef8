import IR

/// Makes the user's input preprocessing part of the model, so the compiled model takes raw pixels.
///
/// Reads `context.options.normalization[input]` (ModelConverter semantics, ../shared/docs/modelconverter.md §1.3):
/// the original model expects y = (R(x) − mean) / scale where x is the raw input in the `to` encoding, R reverses
/// the channel axis when the encodings are RGB and BGR in either order, and mean/scale are per channel in the
/// SOURCE model's (`from`) order, a single value meaning all channels. Each entry is consumed (removed from the
/// options) when applied, so later pipeline rounds do not apply it twice. The graph input keeps its name, shape
/// and float element type; only what it means changes.
///
/// Channel axis: `channelAxis` when the driver resolved it (ModelConverter's layout guess); otherwise the first of
/// axis 1 and the last axis (rank 4: NCHW before NHWC; rank 3: axis 0 before 2) whose static size is the channel
/// count the options need (3 for a reversal, else the length of mean/scale); with only single values and no
/// reversal no axis is needed.
///
/// Folded form, when every use of the input reaches input 0 of a Conv through zero or more single-use Transposes
/// that bring the channel axis to axis 1, and each Conv has constant weights (group 1 when reversing):
/// - W'[m, j, …] = W[m, R(j), …] / scale[R(j)]      (reversal = input-channel permutation, scale = division; exact)
/// - bias'[m] = bias[m] − Σ_{c,k} W[m, c, k]·mean[c] / scale[c], exact when the Conv pads nothing (or mean ≡ 0);
/// - when it pads and all means equal μ: the raw input is padded explicitly with μ (`Pad` constant mode, which in
///   the normalized domain is exactly the zero the Conv padded with) and the Conv's pads become 0;
/// - when it pads and the means differ per channel: ONNX Pad has one scalar value, so the mean stays an explicit
///   `Sub(x, mean in raw order)` before the Conv (exactly what OpenVINO's preprocessing leaves) while reversal and
///   scale still fold into the weights.
/// Otherwise (and always with `foldIntoConvolutions` false) explicit ops follow the input: Gather(indices [C−1…0], channel axis) for reversal, Sub(mean), then
/// Div(scale) (Div, not Mul by 1/scale, to match the formula bit for bit), constants shaped [1, C, 1, 1]-style.
/// Main graph only.
public struct NormalizationFolding: Pass {
    public var name: String { "normalization-folding" }
    /// When false (-O0) the preprocessing always becomes the explicit ops.
    public var foldIntoConvolutions: Bool

    public init(foldIntoConvolutions: Bool = true) { self.foldIntoConvolutions = foldIntoConvolutions }

    public func run(on model: Model, context: PassContext) throws -> Bool {
        guard !context.options.normalization.isEmpty else { return false }
        let rw = GraphRewriter(model: model, context: context)
        var changed = false
        for name in context.options.normalization.keys.sorted() {
            guard let spec = context.options.normalization.removeValue(forKey: name) else { continue }
            guard let input = rw.graph.inputs.first(where: { $0.name == name }) else {
                throw MCCError.usage("preprocessing given for '\(name)', which is not a model input (inputs: \(rw.graph.inputs.map(\.name).joined(separator: ", ")))")
            }
            guard !spec.isIdentity else { continue }
            let plan = try Plan(spec, input: input)
            guard !rw.isGraphOutput(input) else {
                throw MCCError.unsupported("input '\(name)' is also a model output; its preprocessing cannot be folded")
            }
            let uses = input.uses
            let paths = uses.map { convPath(from: $0, axis: plan.axis, plan: plan, rw: rw) }
            if foldIntoConvolutions, !paths.isEmpty, paths.allSatisfy({ $0 != nil }) {
                for path in paths.compactMap({ $0 }) { fold(plan, into: path.conv, at: path.value, rw: rw) }
            } else {
                insertExplicitOps(plan, after: input, uses: uses, rw: rw)
                if foldIntoConvolutions { context.warn("input '\(name)': preprocessing kept as explicit ops (the input does not feed only convolutions)") }
            }
            changed = true
        }
        return changed
    }

    /// The normalization resolved against one input: channel axis and per-channel values in source order.
    struct Plan {
        var axis: Int
        var rank: Int
        /// Channel count the constants have (1 when everything is per-tensor).
        var channels: Int
        var reverse: Bool
        var mean: [Double]
        var scale: [Double]

        init(_ spec: InputNormalization, input: Value) throws {
            let name = input.name
            guard input.elementType == .float else {
                throw MCCError.usage("input '\(name)' is \(input.elementType.map { "\($0)" } ?? "untyped"); --mean/--scale/--encoding need a float32 input")
            }
            guard let dims = input.shape?.dims, !dims.isEmpty else {
                throw MCCError.usage("input '\(name)' has no known rank; fix its shape with --shape to fold preprocessing")
            }
            rank = dims.count
            reverse = spec.reversesChannels
            let meanValues = (spec.mean ?? [0]).map(Double.init)
            let scaleValues = (spec.scale ?? [1]).map(Double.init)
            let counts = Set([meanValues.count, scaleValues.count].filter { $0 > 1 } + (reverse ? [3] : []))
            guard counts.count <= 1 else {
                throw MCCError.usage("input '\(name)': mean has \(meanValues.count) values, scale \(scaleValues.count)\(reverse ? " and the channel reversal needs 3" : ""); they must agree")
            }
            if let given = spec.channelAxis {
                guard given >= 0, given < rank else {
                    throw MCCError.usage("input '\(name)': channel axis \(given) is outside its rank \(rank)")
                }
                if let needed = counts.first, dims[given].value != needed {
                    throw MCCError.usage("input '\(name)' of shape \(input.shape.map { "\($0)" } ?? "?"): axis \(given) does not have the \(needed) channels its preprocessing needs")
                }
                axis = given
                channels = counts.first ?? 1
            } else if let needed = counts.first {
                let candidates = rank == 3 ? [0, 2] : rank >= 4 ? [1, rank - 1] : [rank - 1]
                guard let axis = candidates.first(where: { dims[$0].value == needed }) else {
                    let why = "mean has \(meanValues.count) values, scale \(scaleValues.count)\(reverse ? ", the channel reversal needs 3" : "")"
                    throw MCCError.usage("input '\(name)' of shape \(input.shape.map { "\($0)" } ?? "?") has no channel axis of size \(needed) (axis 1 or the last) for its preprocessing (\(why))")
                }
                self.axis = axis
                channels = needed
            } else {
                axis = rank >= 2 ? 1 : 0
                channels = 1
            }
            mean = meanValues.count == 1 ? Array(repeating: meanValues[0], count: channels) : meanValues
            scale = scaleValues.count == 1 ? Array(repeating: scaleValues[0], count: channels) : scaleValues
            guard mean.allSatisfy(\.isFinite), scale.allSatisfy({ $0.isFinite && $0 != 0 }) else {
                throw MCCError.usage("input '\(name)': mean must be finite and scale finite and non-zero")
            }
        }

        /// Source channel read by raw channel j (and vice versa: reversal is an involution).
        func source(_ j: Int) -> Int { reverse ? channels - 1 - j : j }
        var meanInRawOrder: [Double] { (0..<channels).map { mean[source($0)] } }
        var hasMean: Bool { mean.contains { $0 != 0 } }
        var hasScale: Bool { scale.contains { $0 != 1 } }
    }

    // MARK: Folding into convolutions

    /// Follows single-use Transposes from `use` to a Conv reading the channel axis at axis 1.
    private func convPath(from use: Use, axis: Int, plan: Plan, rw: GraphRewriter) -> (conv: Node, value: Value)? {
        var node = use.node, index = use.index, axis = axis
        guard node.graph === rw.graph else { return nil }
        while node.opType == "Transpose", isONNX(node), index == 0, node.outputs.count == 1 {
            guard let perm = node.intsAttribute("perm").map({ $0.map(Int.init) }), perm.count == plan.rank,
                  let next = perm.firstIndex(of: axis), let out = node.outputs.first, let consumer = rw.soleConsumer(of: out)
            else { return nil }
            axis = next
            node = consumer
            index = out.uses[0].index
        }
        guard node.opType == "Conv", isONNX(node), index == 0, axis == 1 || plan.channels == 1, let x = node.input(0),
              let layout = rw.weightLayout(of: node), layout.inputs == plan.channels || plan.channels == 1 else { return nil }
        if plan.reverse, case .conv(let group) = layout.kind, group != 1 { return nil }
        if node.input(2) != nil, rw.floatConstant(node.input(2)) == nil { return nil }
        // Padding must be known to decide between the exact forms.
        guard resolvedPads(of: node, input: x, kernel: Array(layout.shape.dropFirst(2))) != nil else { return nil }
        return (node, x)
    }

    private func fold(_ plan: Plan, into conv: Node, at x: Value, rw: GraphRewriter) {
        guard var weights = rw.weights(of: conv) else { return }
        let c = weights.inputChannels
        // Expand per-tensor plans to the conv's input channels.
        let scale = plan.channels == c ? plan.scale : Array(repeating: plan.scale[0], count: c)
        let mean = plan.channels == c ? plan.mean : Array(repeating: plan.mean[0], count: c)
        let kernel = Array(weights.shape.dropFirst(2))
        let pads = resolvedPads(of: conv, input: x, kernel: kernel) ?? []
        let padded = pads.contains { $0 != 0 }
        let meansEqual = Set(mean).count == 1

        weights.scaleInputChannels(by: scale.map { 1 / $0 })
        var bias = Array(repeating: 0.0, count: weights.outputChannels)
        if let given = rw.floatConstant(conv.input(2)) { bias = given.values }
        if plan.hasMean && (!padded || meansEqual) {
            let delta = weights.sumOverInputs(times: mean)
            bias = zip(bias, delta).map { $0 - $1 }
        }
        if plan.reverse { weights.permuteInputChannels((0..<c).map { plan.source($0) }) }
        rw.setParameters(of: conv, weights: weights, bias: Tensor(floats: bias.map { Float($0) }, shape: [bias.count]))

        guard plan.hasMean, padded else { return }
        let base = conv.name.isEmpty ? x.name : conv.name
        if meansEqual {
            rw.padExplicitly(conv, input: x, pads: pads, value: mean[0], base: base)
        } else {
            let rank = weights.shape.count
            let rawMean = plan.reverse ? (0..<c).map { mean[plan.source($0)] } : mean
            let constant = rw.addFloatInitializer("\(base)_input_mean", rawMean, shape: channelShape(rank: rank, axis: 1, channels: c))
            let centered = rw.makeValue("\(base)_input_centered", type: x.type)
            rw.insert(rw.makeNode("Sub", name: "\(base)_subtract_mean", inputs: [x, constant], outputs: [centered]), before: conv)
            conv.setInput(0, centered)
        }
    }

    // MARK: Explicit ops

    private func insertExplicitOps(_ plan: Plan, after input: Value, uses: [Use], rw: GraphRewriter) {
        let anchor = rw.graph.nodes.first
        var current = input
        var created: [Node] = []
        let shape = channelShape(rank: plan.rank, axis: plan.axis, channels: plan.channels)
        if plan.reverse {
            let indices = rw.addInt64Initializer("\(input.name)_channel_order", (0..<plan.channels).reversed().map(Int64.init))
            let out = rw.makeValue("\(input.name)_reordered", type: input.type)
            created.append(rw.makeNode("Gather", name: "\(input.name)_reverse_channels", inputs: [current, indices], outputs: [out],
                                       attributes: [Attribute("axis", .int(Int64(plan.axis)))]))
            current = out
        }
        if plan.hasMean {
            let mean = rw.addFloatInitializer("\(input.name)_mean", plan.mean, shape: shape)
            let out = rw.makeValue("\(input.name)_centered", type: input.type)
            created.append(rw.makeNode("Sub", name: "\(input.name)_subtract_mean", inputs: [current, mean], outputs: [out]))
            current = out
        }
        if plan.hasScale {
            let scale = rw.addFloatInitializer("\(input.name)_scale", plan.scale, shape: shape)
            let out = rw.makeValue("\(input.name)_normalized", type: input.type)
            created.append(rw.makeNode("Div", name: "\(input.name)_divide_scale", inputs: [current, scale], outputs: [out]))
            current = out
        }
        for use in uses { use.node.setInput(use.index, current) }
        for node in created {
            if let anchor { rw.insert(node, before: anchor) } else { rw.graph.append(node) }
        }
    }
}
