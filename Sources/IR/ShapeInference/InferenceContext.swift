/// Known contents of a small integer tensor (a shape, an axis list, a scalar), element by element. Entries are
/// dims so symbolic sizes read from `Shape` flow through shape arithmetic.
struct IntContents: Equatable {
    var shape: [Int]
    var values: [Dim]

    /// Tensors larger than this are not tracked: shape subgraphs are tiny and the table must stay cheap.
    static let maxElements = 64

    init?(shape: [Int], values: [Dim]) {
        guard values.count <= Self.maxElements, checkedElementCount(shape) == values.count else { return nil }
        self.shape = shape
        self.values = values
    }

    init?(tensor: Tensor) {
        guard tensor.elementType.isInteger || tensor.elementType == .bool || tensor.elementType.isFloatingPoint,
              let count = checkedElementCount(tensor.shape), count <= Self.maxElements else { return nil }
        let values: [Dim]
        if tensor.elementType.isFloatingPoint {
            // Floats are tracked only when integral (casts of shapes); anything else is not shape data.
            let floats = tensor.floatValues()
            guard floats.count == count,
                  floats.allSatisfy({ $0.isFinite && $0 == $0.rounded() && abs($0) < 1e15 }) else { return nil }
            values = floats.map { .known(Int($0)) }
        } else {
            let ints = tensor.int64Values()
            guard ints.count == count else { return nil }
            values = ints.map { .known(Int($0)) }
        }
        self.init(shape: tensor.shape, values: values)
    }

    var rank: Int { shape.count }
    var isScalarLike: Bool { values.count == 1 }
    /// The values when all are known.
    var ints: [Int]? {
        var result: [Int] = []
        for v in values {
            guard let k = v.value else { return nil }
            result.append(k)
        }
        return result
    }
}

/// What a rule learned about one output. Either part may be unknown; `container` holds non-tensor types.
struct InferredType {
    var elementType: ElementType?
    var shape: Shape?
    var container: ValueType? = nil
}

/// An inference rule: reads the node's inputs through the context and records output types and contents.
typealias InferenceRule = @Sendable (InferenceContext) throws -> Void

/// What an inference rule sees: the node, the opset, input types and propagated contents, typed attribute
/// access with defaults, and the slots where it records what it learned about each output.
final class InferenceContext {
    let node: Node
    let opset: Int64
    let state: InferenceState
    /// Inferred element type and shape per output; nil means "nothing learned" (the declaration stays).
    var outputTypes: [InferredType?]
    var outputContents: [IntContents?]

    init(node: Node, opset: Int64, state: InferenceState) {
        self.node = node
        self.opset = opset
        self.state = state
        outputTypes = Array(repeating: nil, count: node.outputs.count)
        outputContents = Array(repeating: nil, count: node.outputs.count)
    }

    // MARK: Errors

    /// A one-line failure naming the node.
    func fail(_ message: String) -> MCCError { MCCError.failure("\(node.label): \(message)") }

    // MARK: Inputs

    var inputCount: Int { node.inputs.count }
    func input(_ i: Int) -> Value? { node.input(i) }
    func hasInput(_ i: Int) -> Bool { node.input(i) != nil }
    func type(_ i: Int) -> ValueType? { node.input(i)?.type }
    func elementType(_ i: Int) -> ElementType? { node.input(i)?.type?.elementType }
    func shape(_ i: Int) -> Shape? { node.input(i)?.type?.shape }
    func rank(_ i: Int) -> Int? { shape(i)?.rank }

    /// The shape of a required input, or a failure naming it when the input is missing.
    func requireInput(_ i: Int, _ what: String) throws -> Value {
        guard let v = node.input(i) else { throw fail("missing input \(i) (\(what))") }
        return v
    }

    /// Propagated integer contents of input `i` (constants, initializers, shape arithmetic).
    func contents(_ i: Int) -> IntContents? { node.input(i).flatMap { state.contents(of: $0) } }

    /// Known integer values of input `i` (all elements known).
    func ints(input i: Int) -> [Int]? { contents(i)?.ints }

    /// Constant data of input `i` (initializer or Constant node), for float inputs such as Resize scales.
    func constant(_ i: Int) -> Tensor? { node.input(i).flatMap { state.constantTensor(of: $0) } }

    // MARK: Attributes

    func attr(_ name: String) -> Attribute? { node.attribute(name) }

    /// Integer attributes are clamped to ±2^52: far beyond any real size (INT64_MAX "to the end" markers keep
    /// their meaning) while sums and products of two stay clear of overflow.
    static func clamp(_ v: Int64) -> Int { Int(max(min(v, 1 << 52), -(1 << 52))) }
    func int(_ name: String, default value: Int) -> Int {
        guard let v = node.attribute(name)?.int else { return value }
        return Self.clamp(v)
    }
    func intsAttr(_ name: String) -> [Int]? { node.attribute(name)?.ints?.map(Self.clamp) }
    func float(_ name: String, default value: Float) -> Float { node.attribute(name)?.float ?? value }
    func floats(_ name: String) -> [Float]? { node.attribute(name)?.floats }
    func string(_ name: String, default value: String) -> String { node.attribute(name)?.string ?? value }

    /// Normalises a possibly negative `axis` for `rank`, failing with the node named when out of range.
    func axis(_ axis: Int, rank: Int, what: String = "axis") throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank else { throw fail("\(what) \(axis) is out of range for rank \(rank)") }
        return a
    }

    /// Normalised, duplicate-free axes.
    func axes(_ list: [Int], rank: Int) throws -> [Int] {
        let normalised = try list.map { try axis($0, rank: rank) }
        guard Set(normalised).count == normalised.count else { throw fail("axes \(list) repeat an axis") }
        return normalised
    }

    // MARK: Outputs

    func setOutput(_ i: Int, _ elementType: ElementType?, _ shape: Shape?) {
        guard i < outputTypes.count else { return }
        outputTypes[i] = InferredType(elementType: elementType, shape: shape)
    }

    func setOutput(_ i: Int, _ elementType: ElementType?, _ dims: [Dim]?) {
        setOutput(i, elementType, dims.map(Shape.init))
    }

    /// Records a full type (sequences, optionals, or a tensor type copied from elsewhere).
    func setOutputType(_ i: Int, _ type: ValueType?) {
        guard i < outputTypes.count, let type else { return }
        if case .tensor(let e, let s) = type {
            outputTypes[i] = InferredType(elementType: e, shape: s)
        } else {
            outputTypes[i] = InferredType(elementType: nil, shape: nil, container: type)
        }
    }

    func setContents(_ i: Int, _ contents: IntContents?) {
        guard i < outputContents.count else { return }
        outputContents[i] = contents
    }

    /// Output `i` keeps the type of input `j` (unary ops).
    func passThrough(_ i: Int = 0, from j: Int = 0) {
        setOutputType(i, type(j))
    }

    var outputCount: Int { node.outputs.count }
}
