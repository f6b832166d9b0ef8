/// Resize (opset 10 `scales` input; 11-12 roi/scales/sizes; 13+ optional inputs; 18+ `axes` and
/// `keep_aspect_ratio_policy`) and the deprecated Upsample.
enum ResizeInference {
    static let rules: [String: InferenceRule] = ["Resize": resize, "Upsample": upsample]

    /// Float values of input `i` (constant data, or integral propagated contents); nil when unknown or empty.
    static func floats(_ c: InferenceContext, _ i: Int) -> [Double]? {
        guard c.hasInput(i) else { return nil }
        if let t = c.constant(i) {
            let values = t.floatValues().map(Double.init)
            return values.isEmpty ? nil : values
        }
        if let values = c.contents(i)?.ints, !values.isEmpty { return values.map(Double.init) }
        return nil
    }

    /// True when input `i` is present with a known element count of zero (an "unused" placeholder).
    static func isEmpty(_ c: InferenceContext, _ i: Int) -> Bool {
        guard c.hasInput(i) else { return true }
        return c.shape(i).map { $0.dims.contains(.known(0)) } ?? false
    }

    static func resize(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let x = c.shape(0) else { return c.setOutput(0, element, nil as Shape?) }
        let scalesInput = c.opset < 11 ? 1 : 2
        let axes = try c.opset >= 18 ? c.intsAttr("axes").map { try c.axes($0, rank: x.rank) } ?? Array(0..<x.rank)
                                     : Array(0..<x.rank)
        var dims = x.dims
        if c.opset >= 11, !isEmpty(c, 3) {
            guard let sizes = c.contents(3)?.values else {
                for a in axes { dims[a] = .unknown }
                return c.setOutput(0, element, dims)
            }
            guard sizes.count == axes.count else { throw c.fail("sizes has \(sizes.count) values for \(axes.count) axes") }
            let policy = c.string("keep_aspect_ratio_policy", default: "stretch")
            if c.opset >= 18, policy != "stretch" {
                // Scale every axis by the same factor so the result fits in (not_larger) or covers (not_smaller).
                var factors: [Double] = []
                for (k, a) in axes.enumerated() {
                    guard let s = sizes[k].value, let d = x.dims[a].value, d > 0 else {
                        for a in axes { dims[a] = .unknown }
                        return c.setOutput(0, element, dims)
                    }
                    factors.append(Double(s) / Double(d))
                }
                let f = policy == "not_larger" ? factors.min() ?? 1 : factors.max() ?? 1
                for a in axes { dims[a] = x.dims[a].value.map { .known(Int((Double($0) * f).rounded())) } ?? .unknown }
            } else {
                for (k, a) in axes.enumerated() { dims[a] = sizes[k] }
            }
            if let bad = dims.compactMap(\.value).first(where: { $0 < 0 }) { throw c.fail("negative output size \(bad)") }
            return c.setOutput(0, element, dims)
        }
        guard let scales = floats(c, scalesInput) else {
            for a in axes { dims[a] = .unknown }
            return c.setOutput(0, element, dims)
        }
        try apply(scales: scales, axes: axes, to: &dims, c)
        c.setOutput(0, element, dims)
    }

    private static func apply(scales: [Double], axes: [Int], to dims: inout [Dim], _ c: InferenceContext) throws {
        guard scales.count == axes.count else { throw c.fail("scales has \(scales.count) values for \(axes.count) axes") }
        for (k, a) in axes.enumerated() {
            let s = scales[k]
            guard s.isFinite, s > 0 else { throw c.fail("scale \(s) must be positive") }
            if s == 1 { continue }
            guard let d = dims[a].value else { dims[a] = .unknown; continue }
            let out = (Double(d) * s).rounded(.down)
            guard out <= Double(InferenceState.maxElementCount) else { throw c.fail("scale \(s) makes dim \(a) too large") }
            dims[a] = .known(Int(out))
        }
    }

    static func upsample(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let x = c.shape(0) else { return c.setOutput(0, element, nil as Shape?) }
        var dims = x.dims
        let scales = c.opset >= 9 ? floats(c, 1) : c.floats("scales").map { $0.map(Double.init) }
        guard let scales else { return c.setOutput(0, element, dims.map { _ in Dim.unknown }) }
        try apply(scales: scales, axes: Array(0..<x.rank), to: &dims, c)
        c.setOutput(0, element, dims)
    }
}
