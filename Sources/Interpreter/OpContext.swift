import IR

/// What an op kernel sees: the node, its input tensors, the opset, and allocation from the run's buffer pool.
public struct OpContext {
    public let node: Node
    public let inputs: [Tensor?]
    /// Version of the node's domain in the model's opset imports.
    public let opset: Int64
    let pool: BufferPool
    let interpreter: Interpreter
    let scope: Scope

    /// Required input `index`; a missing one is an error naming the node.
    public func input(_ index: Int) throws -> Tensor {
        guard index < inputs.count, let t = inputs[index] else {
            throw MCCError.failure("\(node.label): input \(index) is required but missing")
        }
        return t
    }

    /// Optional input `index` (nil when absent or beyond the list).
    public func optionalInput(_ index: Int) -> Tensor? { index < inputs.count ? inputs[index] : nil }

    /// An uninitialized (dirty) tensor from the pool: kernels must write every element.
    public func allocate(_ elementType: ElementType, _ shape: [Int]) throws -> Tensor {
        guard let count = checkedElementCount(shape), count <= 1 << 34 else {
            throw MCCError.failure("\(node.label): output shape \(shape) is too large")
        }
        if elementType == .string { return Tensor(zeros: .string, shape: shape) }
        return Tensor(elementType: elementType, shape: shape, storage: pool.take(byteCount: elementType.byteCount(for: count)))
    }

    /// A zero-filled tensor from the pool.
    public func allocateZeroed(_ elementType: ElementType, _ shape: [Int]) throws -> Tensor {
        let t = try allocate(elementType, shape)
        if t.byteCount > 0 { t.storage.mutableBaseAddress.initializeMemory(as: UInt8.self, repeating: 0, count: t.byteCount) }
        return t
    }

    // MARK: attributes with defaults

    // Spelled with guard/let rather than optional chains: Swift 6.3's optimizer crashed (CopyPropagation
    // ownership error) on the chained form once inlined into kernel closures.
    @inline(never)
    public func int(_ name: String, default value: Int) -> Int {
        guard let attribute = node.attribute(name), let v = attribute.int else { return value }
        return Int(clamping: v)
    }

    @inline(never)
    public func float(_ name: String, default value: Float) -> Float {
        guard let attribute = node.attribute(name), let v = attribute.float else { return value }
        return v
    }

    @inline(never)
    public func string(_ name: String, default value: String) -> String {
        guard let attribute = node.attribute(name), let v = attribute.string else { return value }
        return v
    }

    @inline(never)
    public func ints(_ name: String) -> [Int]? {
        guard let attribute = node.attribute(name), let v = attribute.ints else { return nil }
        return v.map { Int(clamping: $0) }
    }

    @inline(never)
    public func floats(_ name: String) -> [Float]? {
        guard let attribute = node.attribute(name), let v = attribute.floats else { return nil }
        return v
    }

    /// An attribute that must be present.
    public func requiredAttribute(_ name: String) throws -> Attribute {
        guard let a = node.attribute(name) else { throw MCCError.failure("\(node.label): attribute '\(name)' is required") }
        return a
    }

    /// An error for this node with kind `.failure`.
    public func failure(_ message: String) -> MCCError { MCCError.failure("\(node.label): \(message)") }
    /// An error for an attribute value or input type this interpreter does not implement.
    public func unsupported(_ message: String) -> MCCError { MCCError.unsupported("\(node.label): unsupported \(message)") }

    /// Runs a subgraph (If/Loop/Scan body) with `inputs` bound to its formal inputs; it can read this scope.
    public func runSubgraph(_ graph: Graph, inputs: [Tensor]) throws -> [Tensor] {
        try interpreter.execute(graph, inputs: inputs, parent: scope)
    }
}

/// Signature of an op implementation: returns one tensor per node output (absent outputs may be left out).
public typealias OpKernel = @Sendable (OpContext) throws -> [Tensor]

/// Values live during the execution of one graph, chained to enclosing graphs for subgraph captures.
final class Scope {
    var values: [ObjectIdentifier: Tensor] = [:]
    let parent: Scope?

    init(parent: Scope?) { self.parent = parent }

    func lookup(_ value: Value) -> Tensor? {
        if let t = values[ObjectIdentifier(value)] { return t }
        return parent?.lookup(value)
    }
}
