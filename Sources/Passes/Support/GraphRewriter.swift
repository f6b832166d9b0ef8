import IR

/// Graph-editing helpers the folding passes share: reading constants (initializers and `Constant` nodes), fresh
/// names, adding initializers, inserting nodes next to others and dropping values that became dead.
///
/// Works on the main graph; names are allocated against every graph of the model so a new name never shadows one
/// in a subgraph.
final class GraphRewriter {
    let model: Model
    let graph: Graph
    /// Every name in the model, collected on the first `freshName` (most pass runs never create a name). Not a
    /// `lazy var`: inserting through one copies the set.
    private var names: NameSet?
    private let inputs: IdentitySet
    private let outputs: IdentitySet
    private var removed = IdentitySet()
    /// Removed nodes stay referenced while the rewriter lives: a freed node's address (its ObjectIdentifier) could
    /// otherwise be reused by a new node, which would then look removed.
    private var graveyard: [Node] = []
    /// When set, `setParameters` records new weights in `stagedWeights` (keyed by layer) instead of writing them;
    /// the pass must call `commitStagedWeights(of:)` for every layer before it returns.
    var isStagingWeights = false
    var stagedWeights: [ObjectIdentifier: LinearWeights] = [:]
    /// Removed nodes and initializers still listed in the graph. A removal detaches at once (use-lists are right
    /// immediately); the lists are compacted in one sweep when the rewriter goes away at the end of the pass, since
    /// searching the node list per removed node made passes quadratic. While the rewriter lives, `graph.nodes` may
    /// still hold removed nodes (passes skip them with `isAlive`) and `graph.initializers` removed initializers.
    private var pendingNodes: [Node] = []
    /// Where large new weight tensors are allocated (see `WeightArena`).
    let arena = WeightArena()
    var pendingInitializers = IdentitySet()

    /// Where removed nodes and initializers go when the rewriter is done with them (see
    /// `PassContext.keepsRemovedObjects`); nil: they are freed.
    private let context: PassContext?

    init(model: Model, context: PassContext? = nil) {
        self.model = model
        self.context = context
        graph = model.graph
        opset = model.defaultOpset
        inputs = IdentitySet(graph.inputs)
        outputs = IdentitySet(graph.outputs)
    }

    deinit {
        applyRemovals()
        context?.retire(graveyard)
    }

    /// Drops removed nodes and initializers from the graph's lists (order of the rest kept).
    func applyRemovals() {
        if !pendingNodes.isEmpty {
            // Removed nodes are detached already: many go in one filter over `removed` (no set of them to build).
            if pendingNodes.count <= 8 {
                graph.remove(pendingNodes)
            } else {
                graph.setNodes(graph.nodes.filter { !removed.contains(ObjectIdentifier($0)) })
            }
            pendingNodes = []
        }
        if !pendingInitializers.isEmpty {
            if let context, context.keepsRemovedObjects {
                for value in graph.initializers where pendingInitializers.contains(ObjectIdentifier(value)) {
                    context.retire(initializer: value)
                }
            }
            graph.initializers.removeAll { pendingInitializers.contains(ObjectIdentifier($0)) }
            pendingInitializers = IdentitySet()
        }
    }

    private func allNames() -> NameSet {
        // Sized for the main graph up front: growing rehashes every name collected so far.
        var names = NameSet(capacity: graph.inputs.count + graph.initializers.count + 2 * graph.nodes.count + 16)
        // Removed nodes and initializers the graph still lists (see `pendingNodes`) are not names of the model.
        func collect(_ g: Graph) {
            for v in g.inputs { names.insert(v.name) }
            for v in g.initializers where pendingInitializers.isEmpty || !pendingInitializers.contains(ObjectIdentifier(v)) {
                names.insert(v.name)
            }
            for node in g.nodes where removed.isEmpty || !removed.contains(ObjectIdentifier(node)) {
                names.insert(node.name)
                for out in node.outputs { names.insert(out.name) }
                for sub in node.nestedGraphs { collect(sub) }
            }
        }
        collect(graph)
        return names
    }

    /// The model's default-domain opset, looked up once (pattern matchers ask per node).
    let opset: Int64

    // MARK: Facts

    func isGraphInput(_ value: Value) -> Bool { inputs.contains(ObjectIdentifier(value)) }
    func isGraphOutput(_ value: Value) -> Bool { outputs.contains(ObjectIdentifier(value)) }

    /// The constant data behind `value`: an initializer that is not also a graph input (those can be overridden by
    /// the caller), or the output of a `Constant` node.
    func constant(_ value: Value?) -> Tensor? {
        guard let value, !value.isAbsent, !isGraphInput(value) else { return nil }
        if let tensor = value.initializer { return tensor }
        guard let node = value.producer, Rewriting.isNamed(node.opType, "Constant"), node.domain.isEmpty || node.domain == "ai.onnx"
        else { return nil }
        if let a = node.attribute("value"), case .tensor(let t) = a.value { return t }
        if let f = node.floatAttribute("value_float") { return Tensor(scalar: f) }
        if let a = node.attribute("value_floats"), case .floats(let fs) = a.value { return Tensor(floats: fs, shape: [fs.count]) }
        if let i = node.intAttribute("value_int") { return Tensor(int64s: [i], shape: []) }
        if let i = node.intsAttribute("value_ints") { return Tensor(int64s: i, shape: [i.count]) }
        return nil
    }

    /// A float32 constant's values in double precision (nil for other element types). For small vectors (per-channel
    /// parameters, biases); weights are read in place through LinearWeights.
    func floatConstant(_ value: Value?) -> (values: [Double], shape: [Int])? {
        guard let t = constant(value), t.elementType == .float else { return nil }
        // Straight from the buffer: no intermediate [Float] (this runs for every parameter of every folded layer).
        let n = t.elementCount
        return (t.withUnsafeBufferPointer(as: Float.self) { doubles(of: $0, count: n) }, t.shape)
    }

    /// The constant as one Double when it holds exactly one float element (any rank).
    func scalarConstant(_ value: Value?) -> Double? {
        guard let t = constant(value), t.elementType == .float || t.elementType == .double, t.elementCount == 1
        else { return nil }
        // One element read in place (pattern matchers ask this of every scalar operand they look at); a double is
        // rounded through Float as `floatValues` does.
        if t.elementType == .float { return t.withUnsafeBufferPointer(as: Float.self) { $0.first.map(Double.init) } }
        return t.withUnsafeBufferPointer(as: Double.self) { $0.first.map { Double(Float($0)) } }
    }

    /// Whether `value` is read by `node` alone (once) and is not a graph output, so rewriting it is invisible.
    func isOnlyUse(_ value: Value, by node: Node) -> Bool {
        value.uses.count == 1 && value.uses[0].node === node && !isGraphOutput(value)
    }

    /// The main-graph node reading `value` when it is that value's only use (and not a graph output); nodes of
    /// subgraphs that read the value from the enclosing scope do not count.
    func soleConsumer(of value: Value) -> Node? {
        guard value.uses.count == 1, !isGraphOutput(value), value.uses[0].node.graph === graph else { return nil }
        return value.uses[0].node
    }

    // MARK: Building

    func freshName(_ base: String) -> String {
        if names == nil { names = allNames() }
        var candidate = base.isEmpty ? "mcc" : base
        var k = 1
        while names?.contains(candidate) == true {
            candidate = "\(base)_\(k)"
            k += 1
        }
        names?.insert(candidate)
        return candidate
    }

    /// A new initializer named after `base` (made unique).
    func addInitializer(_ base: String, _ tensor: Tensor) -> Value {
        let value = Value(name: freshName(base), initializer: tensor)
        graph.initializers.append(value)
        return value
    }

    func addFloatInitializer(_ base: String, _ values: [Double], shape: [Int]) -> Value {
        addInitializer(base, Tensor(floats: values.map { Float($0) }, shape: shape))
    }

    func addInt64Initializer(_ base: String, _ values: [Int64], shape: [Int]? = nil) -> Value {
        addInitializer(base, Tensor(int64s: values, shape: shape ?? [values.count]))
    }

    func makeValue(_ base: String, type: ValueType?) -> Value { Value(name: freshName(base), type: type) }

    func makeNode(_ op: String, name base: String, inputs: [Value?], outputs: [Value],
                  attributes: [Attribute] = []) -> Node {
        Node(op, name: freshName(base), inputs: inputs, outputs: outputs, attributes: attributes)
    }

    /// Inserts `node` right before `anchor` (which must be in the graph), as `Graph.insert(_:before:)` does. Passes
    /// insert while walking the list in order, so the anchor is looked for from just after the previous insertion
    /// (then from the start): the same position, found without a scan from the start per insertion.
    func insert(_ node: Node, before anchor: Node) {
        let index = position(of: anchor, from: insertionHint)
        graph.insert(node, at: index)
        insertionHint = index + 1
    }

    /// Where the previous insertion by position ended (only a hint: the list may have changed since).
    private var insertionHint = 0

    /// The position of `anchor` in the node list (searched from `start`, then before it), or the end when absent.
    /// A separate function, so its reference to the list is gone before the caller inserts (no copy on write).
    private func position(of anchor: Node, from start: Int) -> Int {
        graph.nodes.withUnsafeBufferPointer { nodes in
            let start = min(max(start, 0), nodes.count)
            for i in start..<nodes.count where nodes[i] === anchor { return i }
            for i in 0..<start where nodes[i] === anchor { return i }
            return nodes.count
        }
    }

    func insert(_ node: Node, after anchor: Node) {
        var nodes = graph.nodes
        let index = (nodes.firstIndex { $0 === anchor } ?? nodes.count - 1) + 1
        nodes.insert(node, at: index)
        graph.setNodes(nodes)
    }

    /// Replaces every use of `old` by `new` and, when `old` was a graph output, makes `new` take its place (the
    /// caller must have given `new` the name the output had).
    func replaceAllUses(of old: Value, with new: Value) {
        old.replaceAllUses(with: new)
    }

    // MARK: Cleanup

    /// Whether `node` is still in the graph (not removed through this rewriter).
    func isAlive(_ node: Node) -> Bool { !removed.contains(ObjectIdentifier(node)) }

    /// Removes `nodes` (their outputs must be unused) and then any constant inputs that became dead.
    func remove(_ nodes: [Node]) {
        if nodes.count == 1 {
            remove(nodes[0])
            return
        }
        // Inputs are read before detaching clears them: one array, in node then input order (no per-node arrays).
        var inputs: [Value] = []
        inputs.reserveCapacity(nodes.count &* 3)
        for node in nodes {
            for input in node.inputs {
                if let input { inputs.append(input) }
            }
        }
        // Sized once for many removals: growing rehashes every identity so far.
        if removed.isEmpty { removed.reserveCapacity(max(64, graph.nodes.count / 4)) }
        for node in nodes where removed.insert(ObjectIdentifier(node)).inserted {
            node.detach()
            graveyard.append(node)
            pendingNodes.append(node)
        }
        for value in inputs { removeIfDead(value) }
    }

    /// `remove([node])` without the array of inputs: the node's own input list, read before detaching clears it.
    func remove(_ node: Node) {
        let inputs = node.inputs
        if removed.isEmpty { removed.reserveCapacity(max(64, graph.nodes.count / 4)) }
        guard removed.insert(ObjectIdentifier(node)).inserted else { return }
        node.detach()
        graveyard.append(node)
        pendingNodes.append(node)
        for input in inputs { removeIfDead(input) }
    }

    /// Drops an unused constant: its `Constant` node or its initializer entry.
    func removeIfDead(_ value: Value?) {
        guard let value, value.uses.isEmpty, !isGraphOutput(value), !isGraphInput(value) else { return }
        if let node = value.producer, Rewriting.isNamed(node.opType, "Constant"), node.outputs.allSatisfy({ $0.uses.isEmpty }) {
            if removed.insert(ObjectIdentifier(node)).inserted {
                node.detach()
                graveyard.append(node)
                pendingNodes.append(node)
            }
        } else if value.initializer != nil, value.producer == nil {
            pendingInitializers.insert(ObjectIdentifier(value))
        }
    }
}

// MARK: - Broadcast analysis

/// Values of a constant that varies at most along one axis of the tensor it is combined with.
///
/// `shape` is the constant's shape, `rank` the other operand's rank and `axis` its channel axis with `channels`
/// entries. Returns one value per channel, or nil when the constant varies along another axis, has a higher rank
/// (numpy broadcasting would then grow the result) or does not match `channels`. The shape is checked before any
/// value is read, so a large non-per-channel constant costs nothing.
func perChannelValues(_ tensor: Tensor, rank: Int, axis: Int, channels: Int) -> [Double]? {
    let shape = tensor.shape
    guard tensor.elementType == .float, shape.count <= rank, axis >= 0, axis < rank else { return nil }
    // The shape left-padded with 1s to `rank`, read in place (no padded copy: this runs for every candidate).
    let offset = rank - shape.count
    for (j, d) in shape.enumerated() where j + offset != axis && d != 1 { return nil }
    let count = tensor.elementCount
    guard (axis >= offset ? shape[axis - offset] : 1) == count, count == 1 || count == channels,
          tensor.storage.byteCount >= tensor.byteCount
    else { return nil }
    if count == channels { return tensor.withUnsafeBufferPointer(as: Float.self) { doubles(of: $0, count: count) } }
    // One value for every channel, without the one-element array first.
    guard let value = tensor.withUnsafeBufferPointer(as: Float.self, { $0.first }) else { return nil }
    return Array(repeating: Double(value), count: channels)
}

/// The first `count` floats of `buffer` (fewer if it is shorter) in double precision: `prefix(count).map(Double.init)`
/// in one plain loop (the generic map cost several times more per element on every folded parameter vector).
func doubles(of buffer: UnsafeBufferPointer<Float>, count: Int) -> [Double] {
    let n = min(max(count, 0), buffer.count)
    guard n > 0, let source = buffer.baseAddress else { return [] }
    return [Double](unsafeUninitializedCapacity: n) { out, initialized in
        guard let target = out.baseAddress else { return }
        for i in 0..<n { target[i] = Double(source[i]) }
        initialized = n
    }
}

/// Whether `values` holds exactly one distinct value (what `Set(values).count == 1` says, without hashing every
/// channel): non-empty and every element == the first (so a NaN anywhere but alone fails, and 0 equals −0).
func isUniform(_ values: [Double]) -> Bool {
    guard let first = values.first else { return false }
    return values.dropFirst().allSatisfy { $0 == first }
}

/// A shape of `rank` ones except `channels` at `axis` ([1, C, 1, 1] for NCHW).
func channelShape(rank: Int, axis: Int, channels: Int) -> [Int] {
    var shape = Array(repeating: 1, count: rank)
    shape[axis] = channels
    return shape
}

/// Whether the node is in the default ONNX domain.
func isONNX(_ node: Node) -> Bool { node.domain.isEmpty || node.domain == "ai.onnx" }

extension Value {
    /// Rank from the value's type, when known.
    var knownRank: Int? { shape?.rank }
}

extension Node {
    /// `subgraphs`, without reading the attributes of default-domain ops that ONNX never gives a graph attribute
    /// (only If, Loop, Scan and SequenceMap have one). Passes ask every node on every walk, and going through the
    /// attribute list of each Conv or Mul was a few percent of the pipeline. Cheap and conservative: any
    /// default-domain op starting with I, L or S, and every op of another domain, gets the full answer.
    var nestedGraphs: [Graph] {
        // No attributes, no subgraphs: a count test, before the op name is read (Add, Mul, Relu, … end here).
        if attributes.isEmpty { return [] }
        if domain.isEmpty {
            switch opType.utf8.first {
            case UInt8(ascii: "I"), UInt8(ascii: "L"), UInt8(ascii: "S"): break
            default: return []
            }
        }
        return subgraphs
    }
}

/// Attribute reads without optional chaining: Swift 6.3's release optimizer crashed (ownership verifier,
/// CopyPropagation) on `node.attribute(name)?.float.map(...)` chains.
extension Node {
    func floatAttribute(_ name: String) -> Float? {
        guard let a = attribute(name) else { return nil }
        switch a.value {
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: return nil
        }
    }

    func intAttribute(_ name: String) -> Int64? {
        guard let a = attribute(name), case .int(let v) = a.value else { return nil }
        return v
    }

    func intsAttribute(_ name: String) -> [Int64]? {
        guard let a = attribute(name), case .ints(let v) = a.value else { return nil }
        return v
    }

    func stringAttribute(_ name: String) -> String? {
        guard let a = attribute(name), case .string(let v) = a.value else { return nil }
        return String(decoding: v, as: UTF8.self)
    }
}
