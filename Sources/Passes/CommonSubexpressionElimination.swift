#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import IR

/// Merges computations that are certainly equal.
///
/// Rewrites, per graph (subgraphs included, each on its own):
/// - identical initializers: same element type, shape and bytes (compared byte for byte, after grouping by a hash)
///   → readers of the later ones read the first, which keeps its name;
/// - identical nodes: same op type, domain, attributes (compared exactly, floats by bit pattern) and the same input
///   values in the same order → readers of the later node's outputs read the earlier node's, the later node goes.
///
/// Not merged: nodes holding subgraphs (bodies would need a graph comparison) or tensor/sparse attributes (Constant
/// nodes become initializers in ConstantFolding first and merge there), random ops (two draws differ), nodes
/// outside the default domain (may have effects), initializers that are graph inputs (overridable). A later node
/// whose output is a graph output is merged only if the earlier output can take over its name (`Rewriting.substitute`).
public struct CommonSubexpressionElimination: Pass {
    public var name: String { "common-subexpression-elimination" }
    /// Constants are read by value, type and shape; single-reader tests only on non-constants (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }

    public init() {}

    public func run(on model: Model, context: PassContext) throws -> Bool {
        var mergedMoreThanEqualConstants = false
        let changed = eliminate(in: model.graph, context: context, mergedMoreThanEqualConstants: &mergedMoreThanEqualConstants)
        if changed && !mergedMoreThanEqualConstants { context.changeOnlyMergedEqualConstants = true }
        return changed
    }

    private func eliminate(in graph: Graph, context: PassContext, mergedMoreThanEqualConstants: inout Bool) -> Bool {
        var changed = mergeInitializers(in: graph, context: context, typesDiffered: &mergedMoreThanEqualConstants)
        // Kept keys in an open-addressing table of their positions in `keys`, probed by the key's own digest.
        // Kept keys are pairwise unequal (a key is kept only when no equal one is), so at most one matches. Not a
        // [NodeKey: Node] dictionary: hashing with Swift's seeded Hasher and the runtime instantiation of a new
        // key type cost more than the rest of this pass on small models.
        var keys: [NodeKey] = []
        keys.reserveCapacity(graph.nodes.count)
        var size = 16
        while size < 2 * graph.nodes.count { size <<= 1 }
        var table = [Int32](repeating: -1, count: size)
        let mask = size - 1
        var removed: [Int] = []
        for (position, node) in graph.nodes.enumerated() {
            for sub in node.nestedGraphs where eliminate(in: sub, context: context, mergedMoreThanEqualConstants: &mergedMoreThanEqualConstants) { changed = true }
            guard let key = NodeKey(node) else { continue }
            var slot = Int(truncatingIfNeeded: key.digest) & mask
            var match: Node?
            while table[slot] >= 0 {
                let kept = keys[Int(table[slot])]
                if kept.digest == key.digest && kept.matches(key) {
                    match = kept.node
                    break
                }
                slot = (slot &+ 1) & mask
            }
            guard let earlier = match else {
                table[slot] = Int32(truncatingIfNeeded: keys.count)
                keys.append(key)
                continue
            }
            guard canMerge(node, into: earlier, graph: graph) else { continue }
            for (later, kept) in zip(node.outputs, earlier.outputs) where !later.isAbsent {
                Rewriting.substitute(later, with: kept, in: graph)
            }
            removed.append(position)
            changed = true
            mergedMoreThanEqualConstants = true
        }
        if !removed.isEmpty {
            context.retire(Rewriting.removeNodes(at: removed, from: graph))
        }
        return changed
    }

    /// Every present output of `node` must be replaceable: the earlier node has it too, and graph outputs can be
    /// handed over (at most one of the pair is a graph output).
    private func canMerge(_ node: Node, into earlier: Node, graph: Graph) -> Bool {
        for (later, kept) in zip(node.outputs, earlier.outputs) where !later.isAbsent {
            if kept.isAbsent { return false }
            let laterIsOutput = graph.outputs.contains { $0 === later }
            if laterIsOutput && graph.outputs.contains(where: { $0 === kept }) { return false }
        }
        return true
    }

    /// `typesDiffered` is set when a merged initializer's declared type differs from the kept one's (readers then
    /// see another type: not a change that only merged equal constants).
    private func mergeInitializers(in graph: Graph, context: PassContext, typesDiffered: inout Bool) -> Bool {
        let initializers = graph.initializers
        let count = initializers.count
        guard count > 1, count < Int(Int32.max) else { return false }
        // Groups of one type and shape, in file order, from an open-addressing table of each group's first member
        // keyed by a digest of type and shape, members chained through `next`. No data is read for shapes seen once
        // (most weights: reading their bytes is a cache miss per tensor). Within a group a member is compared with
        // the members kept before it (pairwise different): by a digest of the leading bytes, then byte for byte
        // (`sameBytes`), so it merges into the one earlier value with its contents. Not Swift dictionaries and
        // sets: their seeded hashing, growth and run-time type instantiation cost more than the comparison.
        var size = 16
        while size < 2 * count { size <<= 1 }
        let mask = size - 1
        var table = [Int32](repeating: -1, count: size)
        var shapeDigests = [UInt64](repeating: 0, count: count)
        var next = [Int32](repeating: -1, count: count)
        var last = [Int32](repeating: -1, count: count)
        var groups: [Int] = []
        // Graph inputs and outputs read once (each read of the property retains and releases the array).
        let graphInputs = graph.inputs, graphOutputs = graph.outputs
        for (index, value) in initializers.enumerated() {
            guard let tensor = value.initializer, tensor.elementType != .string,
                  !graphInputs.contains(where: { $0 === value }), !graphOutputs.contains(where: { $0 === value })
            else { continue }
            let digest = Self.shapeDigest(tensor)
            shapeDigests[index] = digest
            var slot = Int(truncatingIfNeeded: digest) & mask
            while true {
                let first = Int(table[slot])
                if first < 0 {
                    table[slot] = Int32(index)
                    last[index] = Int32(index)
                    break
                }
                if shapeDigests[first] == digest {
                    if next[first] < 0 { groups.append(first) }
                    next[Int(last[first])] = Int32(index)
                    last[first] = Int32(index)
                    break
                }
                slot = (slot &+ 1) & mask
            }
        }
        guard !groups.isEmpty else { return false }
        // Position of each duplicate → position of the earliest initializer with its contents.
        var merges: [(duplicate: Int, kept: Int)] = []
        var kept: [Int] = []
        var keptDigests: [UInt64] = []
        // Kept members of the group by digest (open addressing over positions in `kept`): a group of hundreds of
        // scalars is not scanned once per member. Kept members are pairwise different, so at most one matches and
        // the probe finds the same one a scan would.
        var keptTable: [Int32] = []
        for first in groups {
            kept.removeAll(keepingCapacity: true)
            keptDigests.removeAll(keepingCapacity: true)
            var members = 0
            var walk = first
            while walk >= 0 {
                members += 1
                walk = Int(next[walk])
            }
            var tableSize = 8
            while tableSize < 2 * members { tableSize <<= 1 }
            let tableMask = tableSize - 1
            keptTable.removeAll(keepingCapacity: true)
            keptTable.append(contentsOf: repeatElement(-1, count: tableSize))
            var member = first
            while member >= 0 {
                defer { member = Int(next[member]) }
                guard let tensor = initializers[member].initializer else { continue }
                let digest = Self.digest(tensor, seed: shapeDigests[member])
                var match = -1
                var slot = Int(truncatingIfNeeded: digest) & tableMask
                while keptTable[slot] >= 0 {
                    let k = Int(keptTable[slot])
                    if keptDigests[k] == digest && sameBytes(initializers[kept[k]].initializer, tensor) {
                        match = kept[k]
                        break
                    }
                    slot = (slot &+ 1) & tableMask
                }
                if match >= 0 {
                    merges.append((member, match))
                } else {
                    keptTable[slot] = Int32(truncatingIfNeeded: kept.count)
                    kept.append(member)
                    keptDigests.append(digest)
                }
            }
        }
        guard !merges.isEmpty else { return false }
        // Uses move in file order of the duplicates, as a single walk over the list would move them: one walk
        // over the positions (no sort of the merges).
        var keptFor = [Int32](repeating: -1, count: count)
        for (duplicate, keptIndex) in merges { keptFor[duplicate] = Int32(truncatingIfNeeded: keptIndex) }
        for (duplicate, keptIndex) in keptFor.enumerated() where keptIndex >= 0 {
            let (value, kept) = (initializers[duplicate], initializers[Int(keptIndex)])
            if value.type != kept.type { typesDiffered = true }
            value.replaceAllUses(with: kept)
        }
        var remaining: [Value] = []
        remaining.reserveCapacity(count - merges.count)
        for (index, value) in initializers.enumerated() {
            if keptFor[index] >= 0 { context.retire(initializer: value) } else { remaining.append(value) }
        }
        graph.initializers = remaining
        return true
    }

    /// FNV-1a over the element type, the shape and the byte count.
    private static func shapeDigest(_ tensor: Tensor) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(tensor.byteCount)
        hash = (hash ^ UInt64(UInt32(bitPattern: tensor.elementType.rawValue))) &* 0x100_0000_01b3
        for d in tensor.shape { hash = (hash ^ UInt64(bitPattern: Int64(d))) &* 0x100_0000_01b3 }
        return hash
    }

    /// FNV-1a, continuing `seed`, over at most the first 256 bytes: a cheap prefilter (weights of one shape almost
    /// always differ early); equal digests are confirmed by comparing all bytes.
    private static func digest(_ tensor: Tensor, seed: UInt64) -> UInt64 {
        var hash = seed
        let count = min(tensor.byteCount, tensor.storage.byteCount, 256)
        let bytes = UnsafeRawBufferPointer(start: tensor.storage.baseAddress, count: count)
        var offset = 0
        while offset + 8 <= bytes.count {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0x100_0000_01b3
            offset += 8
        }
        while offset < bytes.count {
            hash = (hash ^ UInt64(bytes[offset])) &* 0x100_0000_01b3
            offset += 1
        }
        return hash
    }

    private func sameBytes(_ a: Tensor?, _ b: Tensor) -> Bool {
        guard let a, a.elementType == b.elementType, a.shape == b.shape else { return false }
        let count = b.byteCount
        guard a.storage.byteCount >= count, b.storage.byteCount >= count else { return false }
        return memcmp(a.storage.baseAddress, b.storage.baseAddress, count) == 0
    }
}

/// What makes two nodes compute the same thing: op, domain, attributes and input identities. The digest covers
/// the op's length and the input identities (taken when the node is visited); `matches` compares inputs, op,
/// output count and then attributes (sorted by name). Inputs of a kept node do not change during the walk: only
/// outputs of the node being visited are substituted, and their readers come after it.
private struct NodeKey {
    let node: Node
    let digest: UInt64

    init?(_ node: Node) {
        guard Rewriting.isDefaultDomain(node), !ConstantFolding.isNondeterministic(node.opType) else { return nil }
        // Graph attributes (subgraphs), tensors and references to function attributes are not compared.
        for index in node.attributes.indices {
            guard node.attributes[index].refAttrName == nil, AttributeKey.isComparable(node.attributes[index].value)
            else { return nil }
        }
        self.node = node
        // The op's length stands in for its name (hashing the string cost more than the rest of the key); equal
        // digests still compare the names.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(node.opType.utf8.count)
        for input in node.inputs {
            let id: UInt = input.map { $0.isAbsent ? 0 : UInt(bitPattern: ObjectIdentifier($0)) } ?? 0
            h = (h ^ UInt64(id)) &* 0x100_0000_01b3
            h ^= h >> 29
        }
        h = (h ^ UInt64(node.inputs.count)) &* 0xbf58_476d_1ce4_e5b9
        digest = h ^ (h >> 31)
    }

    func matches(_ other: NodeKey) -> Bool {
        let (a, b) = (node, other.node)
        guard a.opType == b.opType, a.inputs.count == b.inputs.count, a.outputs.count == b.outputs.count else { return false }
        for (x, y) in zip(a.inputs, b.inputs) {
            let xa = x.flatMap { $0.isAbsent ? nil : $0 }, ya = y.flatMap { $0.isAbsent ? nil : $0 }
            guard xa === ya else { return false }
        }
        return Self.attributeKeys(of: a) == Self.attributeKeys(of: b)
    }

    private static func attributeKeys(of node: Node) -> [AttributeKey] {
        var keys = node.attributes.compactMap(AttributeKey.init)
        if keys.count > 1 { keys.sort { $0.name < $1.name } }
        return keys
    }
}

/// An attribute compared exactly (floats by bit pattern); tensors, graphs and sparse tensors are not compared.
private struct AttributeKey: Hashable {
    enum Payload: Hashable {
        case int(Int64), float(UInt32), string([UInt8]), ints([Int64]), floats([UInt32]), strings([[UInt8]])
        case type(ValueType?)
    }

    var name: String
    var payload: Payload

    init?(_ attribute: Attribute) {
        name = attribute.name
        switch attribute.value {
        case .int(let v): payload = .int(v)
        case .float(let v): payload = .float(v.bitPattern)
        case .string(let v): payload = .string(v)
        case .ints(let v): payload = .ints(v)
        case .floats(let v): payload = .floats(v.map(\.bitPattern))
        case .strings(let v): payload = .strings(v)
        case .type(let t): payload = .type(t)
        default: return nil
        }
    }

    /// Whether `init` accepts the value (without copying its payload).
    static func isComparable(_ value: AttributeValue) -> Bool {
        switch value {
        case .int, .float, .string, .ints, .floats, .strings, .type: return true
        default: return false
        }
    }
}
