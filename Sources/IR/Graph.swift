/// One use of a value: input `index` of `node`.
public struct Use {
    public unowned let node: Node
    public let index: Int
    /// `node`'s identity: use-list searches compare it instead of loading the unowned reference (a checked
    /// strong retain and release per entry, which made dropping the readers of a widely shared constant slow).
    let nodeIdentity: ObjectIdentifier

    init(node: Node, index: Int) {
        self.node = node
        self.index = index
        nodeIdentity = ObjectIdentifier(node)
    }
}

/// A named SSA value: a graph input, an initializer (constant), or a node output. It knows its producer and
/// its uses so rewrites can find and replace them without scanning the graph.
public final class Value {
    public var name: String
    /// Type as declared or inferred; nil when nothing is known.
    public var type: ValueType?
    /// Constant data when the value is an initializer.
    public var initializer: Tensor?
    public var docString = ""
    public var metadataProps: [(String, String)] = []
    /// The node whose `outputs` list this value, or nil. Not `weak`: a weak reference gives every producing node a
    /// side table, which sends every retain and release of a node down the runtime's slow path (a fifth of the
    /// passes' time). The node keeps it right instead: `setOutputs` clears it for outputs it drops and `deinit` for
    /// the rest, so it is nil exactly when a weak reference would be.
    public internal(set) unowned(unsafe) var producer: Node?
    public internal(set) var producerOutputIndex = 0
    public internal(set) var uses: [Use] = []

    public init(name: String, type: ValueType? = nil, initializer: Tensor? = nil) {
        self.name = name
        self.type = type ?? initializer?.valueType
        self.initializer = initializer
    }

    /// An absent optional input/output is written as the empty name in ONNX.
    public var isAbsent: Bool { name.isEmpty }
    public var isConstant: Bool { initializer != nil }
    public var elementType: ElementType? { type?.elementType }
    public var shape: Shape? { type?.shape }

    /// Points every use of this value at `other` instead.
    /// Same result as `setInput(use.index, other)` per use in list order (`other`'s list gains the uses in that
    /// order), in one move: the per-use search and shift of this value's own list, and the copy that iterating a
    /// list while shrinking it forced, were most of the cost of merging a duplicate constant.
    public func replaceAllUses(with other: Value) {
        guard other !== self, !uses.isEmpty else { return }
        if uses.count == 1 {
            // One reader (a merged duplicate constant, a bypassed node): no list to copy or free.
            let use = uses[0]
            uses.removeAll(keepingCapacity: true)
            other.uses.append(use)
            use.node.replaceInputEntry(use.index, with: other)
            return
        }
        let moved = uses
        uses = []
        other.uses.append(contentsOf: moved)
        for use in moved { use.node.replaceInputEntry(use.index, with: other) }
    }
}

/// An operator application. Inputs may be nil (absent optional inputs); outputs with an empty name are absent.
public final class Node {
    public var name: String
    public var opType: String
    /// Operator domain; "" is the default ONNX domain (ai.onnx).
    public var domain: String
    public var overload = ""
    public var attributes: [Attribute]
    public var docString = ""
    public var metadataProps: [(String, String)] = []
    public private(set) var inputs: [Value?] = []
    public private(set) var outputs: [Value] = []
    /// The graph whose node list holds this node.
    public internal(set) weak var graph: Graph?

    public init(_ opType: String, domain: String = "", name: String = "", inputs: [Value?] = [],
                outputs: [Value] = [], attributes: [Attribute] = []) {
        self.opType = opType
        self.domain = domain
        self.name = name
        self.attributes = attributes
        for input in inputs { appendInput(input) }
        for output in outputs { appendOutput(output) }
    }

    deinit {
        for output in outputs where output.producer === self { output.producer = nil }
    }

    public func attribute(_ name: String) -> Attribute? { attributes.first { $0.name == name } }

    public func setAttribute(_ attribute: Attribute) {
        if let i = attributes.firstIndex(where: { $0.name == attribute.name }) {
            attributes[i] = attribute
        } else {
            attributes.append(attribute)
        }
    }

    public func removeAttribute(_ name: String) { attributes.removeAll { $0.name == name } }

    /// The input at `index`, or nil when it is absent or beyond the input list.
    public func input(_ index: Int) -> Value? {
        index < inputs.count ? inputs[index].flatMap { $0.isAbsent ? nil : $0 } : nil
    }

    public func appendInput(_ value: Value?) {
        inputs.append(value)
        value?.uses.append(Use(node: self, index: inputs.count - 1))
    }

    /// Input `index` becomes `value` with no use-list edits (`replaceAllUses` moves the use entries itself).
    func replaceInputEntry(_ index: Int, with value: Value) { inputs[index] = value }

    public func setInput(_ index: Int, _ value: Value?) {
        if let old = inputs[index] { removeUse(of: old, at: index) }
        inputs[index] = value
        value?.uses.append(Use(node: self, index: index))
    }

    /// Drops this node's use `index` from `value`'s use-list (a (node, index) pair is listed once). One search that
    /// stops at the match, then one shift: shared constants (a scalar read by every activation) have long lists,
    /// and a filter over the whole list per removed node made deleting many nodes quadratic.
    private func removeUse(of value: Value, at index: Int) {
        // Index first: comparing unowned node references is the expensive part on long use-lists.
        let identity = ObjectIdentifier(self)
        if let position = value.uses.firstIndex(where: { $0.index == index && $0.nodeIdentity == identity }) {
            value.uses.remove(at: position)
        }
    }

    /// Replaces the whole input list, keeping use-lists right.
    public func setInputs(_ values: [Value?]) {
        dropInputs()
        for value in values { appendInput(value) }
    }

    /// Removes this node from its inputs' use-lists (before the node is deleted).
    public func dropInputs() {
        for (i, value) in inputs.enumerated() {
            if let value { removeUse(of: value, at: i) }
        }
        inputs.removeAll()
    }

    public func appendOutput(_ value: Value) {
        value.producer = self
        value.producerOutputIndex = outputs.count
        outputs.append(value)
    }

    public func setOutputs(_ values: [Value]) {
        for old in outputs where old.producer === self { old.producer = nil }
        outputs.removeAll()
        for value in values { appendOutput(value) }
    }

    /// Drops this node's uses and those of every node in its subgraphs. A deleted node must be detached first:
    /// use-lists hold unowned references, and subgraph nodes may read values of the enclosing graph.
    public func detach() {
        dropInputs()
        for sub in subgraphs {
            for inner in sub.allNodes() { inner.dropInputs() }
        }
    }

    /// Subgraphs held by attributes. Passes ask every node for them on every walk, so nodes without any (nearly
    /// all) answer without building intermediate arrays.
    public var subgraphs: [Graph] {
        var result: [Graph] = []
        for index in attributes.indices {
            switch attributes[index].value {
            case .graph(let graph): result.append(graph)
            case .graphs(let graphs): result += graphs
            default: continue
            }
        }
        return result
    }

    /// Display name for messages: the node name, or its op and first output when unnamed.
    public var label: String {
        if !name.isEmpty { return "\(opType) node '\(name)'" }
        return "\(opType) node producing '\(outputs.first?.name ?? "?")'"
    }
}

/// A graph: inputs, constant initializers, a topologically ordered node list and outputs. Subgraphs (If/Loop/Scan
/// bodies) are `Graph`s held by node attributes; they may read values of enclosing graphs directly.
public final class Graph {
    public var name: String
    public var docString = ""
    public var inputs: [Value] = []
    public var outputs: [Value] = []
    /// Values with constant data, in file order.
    public var initializers: [Value] = []
    public private(set) var nodes: [Node] = []
    /// Extra value_info entries for values that are neither produced nor inputs here (kept for round trips).
    public var extraValueInfo: [Value] = []
    public var metadataProps: [(String, String)] = []

    public init(name: String = "") { self.name = name }

    public func append(_ node: Node) {
        node.graph = self
        nodes.append(node)
    }

    /// Inserts `node` right before `anchor` (which must be in this graph).
    public func insert(_ node: Node, before anchor: Node) {
        node.graph = self
        let index = nodes.firstIndex { $0 === anchor } ?? nodes.endIndex
        nodes.insert(node, at: index)
    }

    /// Inserts `node` at position `index` of the node list (0...nodes.count), for callers that know where their
    /// anchor is (a search per insertion made rewrites quadratic in the node count).
    public func insert(_ node: Node, at index: Int) {
        node.graph = self
        nodes.insert(node, at: index)
    }

    /// Removes nodes and drops their input uses. Outputs of removed nodes must be unused by then.
    public func remove(_ doomed: [Node]) {
        for node in doomed { node.detach() }
        if doomed.count <= 8 {
            // Rewrites remove one or two nodes at a time: identity search, no hashing of the whole node list.
            for node in doomed {
                if let index = nodes.firstIndex(where: { $0 === node }) { nodes.remove(at: index) }
            }
            return
        }
        let ids = Set(doomed.map(ObjectIdentifier.init))
        nodes.removeAll { ids.contains(ObjectIdentifier($0)) }
    }

    /// Replaces the node list (used by importers and topological sorting).
    public func setNodes(_ newNodes: [Node]) {
        for node in newNodes { node.graph = self }
        nodes = newNodes
    }

    /// Every node here and in nested subgraphs, in order.
    public func allNodes() -> [Node] {
        var result: [Node] = []
        func walk(_ g: Graph) {
            for node in g.nodes {
                result.append(node)
                for sub in node.subgraphs { walk(sub) }
            }
        }
        walk(self)
        return result
    }

    public func initializer(named name: String) -> Value? { initializers.first { $0.name == name } }
}

public struct OpsetImport: Hashable, Sendable {
    public var domain: String
    public var version: Int64

    public init(domain: String, version: Int64) {
        self.domain = domain
        self.version = version
    }
}

/// A model-local function (ONNX FunctionProto). Its body is a graph whose inputs/outputs are the formal parameters.
public final class Function {
    public var name: String
    public var domain: String
    public var overload = ""
    public var body: Graph
    public var attributeNames: [String] = []
    /// Attributes with default values.
    public var attributeDefaults: [Attribute] = []
    public var opsetImports: [OpsetImport] = []
    public var docString = ""
    public var metadataProps: [(String, String)] = []

    public init(name: String, domain: String, body: Graph) {
        self.name = name
        self.domain = domain
        self.body = body
    }
}

/// A whole model: metadata, opset imports, the main graph and local functions.
public final class Model {
    public var irVersion: Int64 = 8
    public var opsetImports: [OpsetImport] = []
    public var producerName = ""
    public var producerVersion = ""
    public var domain = ""
    public var modelVersion: Int64 = 0
    public var docString = ""
    public var metadataProps: [(String, String)] = []
    public var graph: Graph
    public var functions: [Function] = []

    public init(graph: Graph) { self.graph = graph }

    /// Opset version of the default ONNX domain ("" or "ai.onnx").
    public var defaultOpset: Int64 {
        opsetImports.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version ?? 1
    }

    public func opsetVersion(for domain: String) -> Int64? {
        let normalized = domain == "ai.onnx" ? "" : domain
        return opsetImports.first { ($0.domain == "ai.onnx" ? "" : $0.domain) == normalized }?.version
    }
}
