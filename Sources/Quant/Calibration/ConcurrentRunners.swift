import IR

/// Whole samples run concurrently, one runner per core, each with its own buffers and records in flight: worth it
/// while those copies are small. An extra runner holds the peak of one run's live activations (`peakLiveBytes`) and
/// up to two sample records (`recordBytes`, 0 when nothing is recorded); when the extra runners would hold more than
/// `concurrentRunnerBytes` in all (or a size is unknown) one runner splits each kernel over the cores instead, which
/// keeps peak memory near a single run's. Decided from static sizes, so the same model always runs the same way.
func concurrentRunners(cores: Int, model: Model, recordBytes: Int? = 0) -> Int {
    guard cores > 1, let live = peakLiveBytes(model), let record = recordBytes else { return 1 }
    let extra = (live + 2 * record) * (cores - 1)
    return extra <= concurrentRunnerBytes ? cores : 1
}

let concurrentRunnerBytes = 192 << 20

/// The most bytes of node outputs alive at once when the interpreter runs `model`'s main graph node by node (each
/// value released after its last reader, graph inputs and outputs kept; initializers not counted: runners share
/// them). nil when some value's size is not static.
public func peakLiveBytes(_ model: Model) -> Int? {
    let graph = model.graph
    var lastUse: [ObjectIdentifier: Int] = [:]
    for (k, node) in graph.nodes.enumerated() {
        for value in node.transitiveInputs() { lastUse[ObjectIdentifier(value)] = k }
    }
    let kept = Set(graph.outputs.map(ObjectIdentifier.init))
    func bytes(_ value: Value) -> Int? {
        guard let sizes = value.shape?.staticSizes, let type = value.type?.elementType else { return nil }
        return type.byteCount(for: sizes.reduce(1, *))
    }
    var live = 0
    for input in graph.inputs {
        guard let b = bytes(input) else { return nil }
        live += b
    }
    var peak = live
    var alive: [ObjectIdentifier: Int] = [:]
    for (k, node) in graph.nodes.enumerated() {
        for output in node.outputs where !output.isAbsent {
            guard let b = bytes(output) else { return nil }
            alive[ObjectIdentifier(output)] = b
            live += b
        }
        peak = max(peak, live)
        for value in node.transitiveInputs() {
            let id = ObjectIdentifier(value)
            guard lastUse[id] == k, !kept.contains(id), let b = alive.removeValue(forKey: id) else { continue }
            live -= b
        }
        // Outputs nobody reads go back at once.
        for output in node.outputs where !output.isAbsent && lastUse[ObjectIdentifier(output)] == nil {
            let id = ObjectIdentifier(output)
            guard !kept.contains(id), let b = alive.removeValue(forKey: id) else { continue }
            live -= b
        }
    }
    return peak
}
