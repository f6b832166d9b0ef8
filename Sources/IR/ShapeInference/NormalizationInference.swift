/// BatchNormalization (inference and training outputs), InstanceNormalization, LayerNormalization,
/// GroupNormalization. Parameter vectors are checked against the channel count when both are known.
enum NormalizationInference {
    static let rules: [String: InferenceRule] = [
        "BatchNormalization": batchNorm, "InstanceNormalization": instanceNorm,
        "LayerNormalization": layerNorm, "GroupNormalization": groupNorm,
    ]

    /// Fails when a 1-D parameter input does not have `channels` elements.
    private static func checkParameter(_ c: InferenceContext, _ i: Int, channels: Dim, name: String) throws {
        guard let p = c.shape(i) else { return }
        guard p.rank == 1 else { throw c.fail("\(name) must be 1-D, got \(p)") }
        if let n = p.dims[0].value, let ch = channels.value, n != ch {
            throw c.fail("\(name) has \(n) elements for \(ch) channels")
        }
    }

    static func batchNorm(_ c: InferenceContext) throws {
        c.passThrough()
        guard let x = c.shape(0) else { return }
        let channels = x.rank > 1 ? x.dims[1] : .known(1)
        for (i, name) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "var")] {
            try checkParameter(c, i, channels: channels, name: name)
        }
        for i in 1..<max(c.outputCount, 1) { c.setOutput(i, c.elementType(3) ?? c.elementType(0), [channels]) }
    }

    static func instanceNorm(_ c: InferenceContext) throws {
        c.passThrough()
        guard let x = c.shape(0), x.rank >= 2 else { return }
        try checkParameter(c, 1, channels: x.dims[1], name: "scale")
        try checkParameter(c, 2, channels: x.dims[1], name: "bias")
    }

    static func layerNorm(_ c: InferenceContext) throws {
        c.passThrough()
        guard let x = c.shape(0) else { return }
        let axis = try c.axis(c.int("axis", default: -1), rank: x.rank)
        let statsDims = x.dims.enumerated().map { $0.offset < axis ? $0.element : Dim.known(1) }
        let statsType: ElementType? = (c.attr("stash_type")?.int).flatMap { ElementType(rawValue: Int32(clamping: $0)) } ?? .float
        if c.outputCount > 1 { c.setOutput(1, statsType, statsDims) }
        if c.outputCount > 2 { c.setOutput(2, statsType, statsDims) }
    }

    static func groupNorm(_ c: InferenceContext) throws {
        c.passThrough()
        guard let x = c.shape(0), x.rank >= 2 else { return }
        let groups = c.int("num_groups", default: 0)
        guard groups >= 1 else { throw c.fail("num_groups \(groups) must be positive") }
        if let ch = x.dims[1].value, ch % groups != 0 { throw c.fail("\(ch) channels are not divisible into \(groups) groups") }
    }
}
