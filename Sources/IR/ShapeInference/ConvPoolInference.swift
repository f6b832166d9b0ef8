/// Conv, ConvTranspose, ConvInteger/QLinearConv, the windowed pools and the global pools. Attribute parsing is
/// shared with the interpreter and emitters through `ConvAttributes`.
enum ConvPoolInference {
    static let rules: [String: InferenceRule] = [
        "Conv": conv, "ConvInteger": conv, "QLinearConv": conv,
        "ConvTranspose": convTranspose,
        "MaxPool": pool, "AveragePool": pool, "LpPool": pool,
        "GlobalAveragePool": globalPool, "GlobalMaxPool": globalPool, "GlobalLpPool": globalPool,
        "MaxRoiPool": maxRoiPool, "RoiAlign": roiAlign, "MaxUnpool": maxUnpool,
    ]

    /// The input (N, C, spatial...) shape, failing when the rank is below 3.
    private static func dataShape(_ c: InferenceContext, _ i: Int = 0) throws -> Shape? {
        guard let s = c.shape(i) else { return nil }
        guard s.rank >= 3 else { throw c.fail("input rank \(s.rank) is below 3 (N, C, spatial...)") }
        return s
    }

    private static func spatialOutput(_ c: InferenceContext, _ attrs: ConvAttributes, _ x: Shape,
                                      transposed: Bool) throws -> [Dim] {
        try (0..<attrs.spatialRank).map { a in
            guard let size = x.dims[a + 2].value else {
                if transposed, let out = attrs.outputShape { return .known(out[a]) }
                return .unknown
            }
            let out = transposed ? attrs.transposedOutputSize(inputSize: size, axis: a)
                                 : attrs.outputSize(inputSize: size, axis: a)
            guard let out, out >= (transposed ? 0 : 1) else {
                throw c.fail("window (kernel \(attrs.kernelShape[a]), dilation \(attrs.dilations[a])) does not fit spatial dim \(a) of size \(size) with its padding")
            }
            return .known(out)
        }
    }

    /// Conv attributes with the kernel taken from the weights; nil when neither tells the kernel size.
    private static func attributes(_ c: InferenceContext, _ x: Shape, _ w: Shape) throws -> ConvAttributes? {
        let kernel = w.dims.dropFirst(2).compactMap(\.value)
        let known = kernel.count == x.rank - 2 ? kernel : nil
        if known == nil && c.attr("kernel_shape") == nil { return nil }
        return try ConvAttributes(node: c.node, spatialRank: x.rank - 2, kernelShape: known)
    }

    static func conv(_ c: InferenceContext) throws {
        let quantized = c.node.opType != "Conv"
        let wIndex = c.node.opType == "QLinearConv" ? 3 : 1
        let element: ElementType? = c.node.opType == "ConvInteger" ? .int32
            : c.node.opType == "QLinearConv" ? (c.elementType(7) ?? c.elementType(0)) : c.elementType(0)
        guard let x = try dataShape(c), let w = c.shape(wIndex) else {
            c.setOutput(0, element, nil as Shape?)
            return
        }
        guard w.rank == x.rank else { throw c.fail("weight rank \(w.rank) \(w) does not match input rank \(x.rank) \(x)") }
        guard let attrs = try attributes(c, x, w) else {
            return c.setOutput(0, element, [x.dims[0], w.dims[0]] + Array(repeating: Dim.unknown, count: x.rank - 2))
        }
        if let cin = x.dims[1].value, let wc = w.dims[1].value, cin != wc * attrs.group {
            throw c.fail("input has \(cin) channels but weights \(w) with group \(attrs.group) expect \(wc * attrs.group)")
        }
        if let m = w.dims[0].value, m % attrs.group != 0 {
            throw c.fail("\(m) output channels are not divisible by group \(attrs.group)")
        }
        if !quantized, let b = c.shape(2) {
            guard b.rank == 1 else { throw c.fail("bias must be 1-D, got \(b)") }
            if let bn = b.dims[0].value, let m = w.dims[0].value, bn != m {
                throw c.fail("bias has \(bn) elements for \(m) output channels")
            }
        }
        let spatial = try spatialOutput(c, attrs, x, transposed: false)
        c.setOutput(0, element, [x.dims[0], w.dims[0]] + spatial)
    }

    static func convTranspose(_ c: InferenceContext) throws {
        guard let x = try dataShape(c), let w = c.shape(1) else {
            c.setOutput(0, c.elementType(0), nil as Shape?)
            return
        }
        guard w.rank == x.rank else { throw c.fail("weight rank \(w.rank) \(w) does not match input rank \(x.rank) \(x)") }
        guard let attrs = try attributes(c, x, w) else {
            return c.setOutput(0, c.elementType(0), nil as Shape?)
        }
        if let cin = x.dims[1].value, let wc = w.dims[0].value, cin != wc {
            throw c.fail("input has \(cin) channels but weights \(w) expect \(wc)")
        }
        let channels = DimMath.multiply(w.dims[1], .known(attrs.group))
        let spatial = try spatialOutput(c, attrs, x, transposed: true)
        c.setOutput(0, c.elementType(0), [x.dims[0], channels] + spatial)
    }

    static func pool(_ c: InferenceContext) throws {
        guard let x = try dataShape(c) else {
            c.setOutput(0, c.elementType(0), nil as Shape?)
            if c.outputCount > 1 { c.setOutput(1, .int64, nil as Shape?) }
            return
        }
        let attrs = try ConvAttributes(node: c.node, spatialRank: x.rank - 2)
        let spatial = try spatialOutput(c, attrs, x, transposed: false)
        let out = [x.dims[0], x.dims[1]] + spatial
        c.setOutput(0, c.elementType(0), out)
        if c.outputCount > 1 { c.setOutput(1, .int64, out) }
    }

    static func globalPool(_ c: InferenceContext) throws {
        guard let x = try dataShape(c) else { return c.passThrough() }
        c.setOutput(0, c.elementType(0), [x.dims[0], x.dims[1]] + Array(repeating: Dim.known(1), count: x.rank - 2))
    }

    static func maxRoiPool(_ c: InferenceContext) throws {
        guard let pooled = c.intsAttr("pooled_shape"), pooled.count == 2 else { throw c.fail("needs pooled_shape of 2 values") }
        let rois = c.shape(1)?.dims.first ?? .unknown
        let channels = c.shape(0).flatMap { $0.rank > 1 ? $0.dims[1] : nil } ?? .unknown
        c.setOutput(0, c.elementType(0), [rois, channels, .known(pooled[0]), .known(pooled[1])])
    }

    static func roiAlign(_ c: InferenceContext) throws {
        let rois = c.shape(1)?.dims.first ?? .unknown
        let channels = c.shape(0).flatMap { $0.rank > 1 ? $0.dims[1] : nil } ?? .unknown
        c.setOutput(0, c.elementType(0), [rois, channels, .known(c.int("output_height", default: 1)),
                                          .known(c.int("output_width", default: 1))])
    }

    static func maxUnpool(_ c: InferenceContext) throws {
        if let sizes = c.contents(2), sizes.rank == 1 { return c.setOutput(0, c.elementType(0), sizes.values) }
        guard let x = try dataShape(c) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        let attrs = try ConvAttributes(node: c.node, spatialRank: x.rank - 2)
        let spatial: [Dim] = (0..<attrs.spatialRank).map { a in
            guard let size = x.dims[a + 2].value, let out = attrs.transposedOutputSize(inputSize: size, axis: a) else { return .unknown }
            return .known(out)
        }
        c.setOutput(0, c.elementType(0), [x.dims[0], x.dims[1]] + spatial)
    }
}
