extension Graph {
    /// Reorders `nodes` so every node follows the producers of its inputs, including values its subgraphs read
    /// from this graph. Keeps the existing order where it is already valid (stable Kahn). Throws naming a node
    /// on a cycle.
    public func sortTopologically() throws {
        let index = Dictionary(nodes.enumerated().map { (ObjectIdentifier($1), $0) }, uniquingKeysWith: { a, _ in a })
        // Files are almost always in order already, and then the stable sort below would keep it as it is: one
        // check instead of building the dependency lists (a measurable part of an import).
        if isOrdered(index) { return }
        var pending = [Int](repeating: 0, count: nodes.count)
        var dependents = [[Int]](repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() {
            var producers = Set<Int>()
            for value in node.transitiveInputs() {
                if let p = value.producer, let j = index[ObjectIdentifier(p)], j != i { producers.insert(j) }
                else if let p = value.producer, index[ObjectIdentifier(p)] == i {
                    throw MCCError.failure("\(node.label) reads its own output '\(value.name)' (cycle)")
                }
            }
            pending[i] = producers.count
            for j in producers { dependents[j].append(i) }
        }
        // A min-heap on original position keeps the order stable; a sorted ready list is enough at these sizes.
        var ready = (0..<nodes.count).filter { pending[$0] == 0 }
        var heap = MinHeap(ready)
        ready.removeAll()
        var order: [Node] = []
        order.reserveCapacity(nodes.count)
        while let i = heap.pop() {
            order.append(nodes[i])
            for d in dependents[i] {
                pending[d] -= 1
                if pending[d] == 0 { heap.push(d) }
            }
        }
        if order.count != nodes.count {
            let stuck = nodes.indices.first { pending[$0] > 0 }.map { nodes[$0].label } ?? "a node"
            throw MCCError.failure("graph has a cycle through \(stuck)")
        }
        setNodes(order)
    }

    /// True when every node comes after the producers (in this graph) of everything it reads, and none reads its
    /// own output.
    private func isOrdered(_ index: [ObjectIdentifier: Int]) -> Bool {
        for (i, node) in nodes.enumerated() {
            if index[ObjectIdentifier(node)] != i { return false }  // listed twice
            for value in node.inputs {
                guard let producer = value?.producer, let j = index[ObjectIdentifier(producer)] else { continue }
                if j >= i { return false }
            }
            if !node.subgraphs.isEmpty {
                for value in node.transitiveInputs() {
                    guard let producer = value.producer, let j = index[ObjectIdentifier(producer)] else { continue }
                    if j >= i { return false }
                }
            }
        }
        return true
    }
}

extension Node {
    /// Inputs plus every value that nested subgraphs read from outside themselves.
    public func transitiveInputs() -> [Value] {
        var result = inputs.compactMap { $0 }
        for sub in subgraphs { result += sub.capturedValues() }
        return result
    }
}

extension Graph {
    /// Values read by this graph's nodes (recursively) that are not defined inside it.
    public func capturedValues() -> [Value] {
        var local = Set<ObjectIdentifier>()
        for v in inputs + initializers { local.insert(ObjectIdentifier(v)) }
        var captured: [Value] = []
        var seen = Set<ObjectIdentifier>()
        for node in nodes {
            for v in node.transitiveInputs() where !local.contains(ObjectIdentifier(v)) {
                if seen.insert(ObjectIdentifier(v)).inserted { captured.append(v) }
            }
            for out in node.outputs { local.insert(ObjectIdentifier(out)) }
        }
        return captured.filter { !local.contains(ObjectIdentifier($0)) }
    }
}

private struct MinHeap {
    private var items: [Int]
    init(_ items: [Int]) {
        self.items = []
        for i in items { push(i) }
    }
    mutating func push(_ x: Int) {
        items.append(x)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if items[p] <= items[c] { break }
            items.swapAt(p, c)
            c = p
        }
    }
    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return top
    }
}
