/// Generators and sequences: RandomNormal/RandomUniform(+Like), Bernoulli, Multinomial, SequenceConstruct,
/// SequenceEmpty, SequenceAt, SequenceLength.
enum MiscInference {
    static let rules: [String: InferenceRule] = [
        "RandomNormal": random, "RandomUniform": random, "RandomNormalLike": randomLike,
        "RandomUniformLike": randomLike, "Bernoulli": randomLike, "Multinomial": multinomial,
        "SequenceConstruct": sequenceConstruct, "SequenceEmpty": sequenceEmpty, "SequenceAt": sequenceAt,
        "SequenceLength": { c in c.setOutput(0, .int64, [Dim]()) },
    ]

    static func dtype(_ c: InferenceContext) -> ElementType? {
        c.attr("dtype")?.int.flatMap { ElementType(rawValue: Int32(clamping: $0)) }
    }

    static func random(_ c: InferenceContext) throws {
        guard let shape = c.intsAttr("shape") else { throw c.fail("missing shape attribute") }
        if let bad = shape.first(where: { $0 < 0 }) { throw c.fail("negative dim \(bad) in shape") }
        c.setOutput(0, dtype(c) ?? .float, Shape(shape))
    }

    static func randomLike(_ c: InferenceContext) throws {
        c.setOutput(0, dtype(c) ?? c.elementType(0), c.shape(0))
    }

    static func multinomial(_ c: InferenceContext) throws {
        let batch = c.shape(0).flatMap { $0.rank == 2 ? $0.dims[0] : nil } ?? .unknown
        c.setOutput(0, dtype(c) ?? .int32, [batch, .known(c.int("sample_size", default: 1))])
    }

    static func sequenceConstruct(_ c: InferenceContext) throws {
        let types = ElementwiseInference.presentInputs(c).map { c.type($0) }
        guard let first = types.first else { return }
        let element = types.dropFirst().allSatisfy { $0 == first } ? first : first?.elementType.map { .tensor($0, nil) }
        c.setOutputType(0, .sequence(element))
    }

    static func sequenceEmpty(_ c: InferenceContext) throws {
        c.setOutputType(0, .sequence(.tensor(dtype(c) ?? .float, nil)))
    }

    static func sequenceAt(_ c: InferenceContext) throws {
        if case .sequence(let element)? = c.type(0), let element { c.setOutputType(0, element) }
    }
}
