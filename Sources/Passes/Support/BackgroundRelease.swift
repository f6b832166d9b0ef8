import Dispatch
import IR

/// Releases what a pass dropped from the model (removed nodes, dead initializers and the weights behind them) on a
/// background thread instead of in the pass.
///
/// Why: freeing is a fifth to a quarter of the pipeline's instructions on the corpus (a removed initializer frees
/// its tensor, whose imported storage frees its unpacked protobuf message and arena; a node frees its strings,
/// attributes and side table), and none of it affects the result, so the second core does it while the passes go
/// on. The objects are unreachable from the model when handed over; reference counting is atomic, so the last
/// release may happen on either thread. Outputs do not depend on when memory is freed. The serial queue frees in
/// hand-over order; the process may exit before it has finished (nothing is observable then).
enum BackgroundRelease {
    /// Owns the objects until the queue runs; `@unchecked Sendable` because nothing else references the box.
    private final class Box: @unchecked Sendable {
        var objects: [AnyObject]
        init(_ objects: [AnyObject]) { self.objects = objects }
    }

    private static let queue = DispatchQueue(label: "mcc.passes.release", qos: .utility)

    /// Takes `objects` (leaving the array empty, so the box holds the only reference to its buffer) and releases
    /// them later on the background queue.
    static func release(_ objects: inout [AnyObject]) {
        guard !objects.isEmpty else { return }
        let box = Box(objects)
        objects = []
        queue.async { box.objects = [] }
    }

    /// Removes `doomed` from `graph` (as `Graph.remove`) and releases the nodes in the background.
    static func remove(_ doomed: [Node], from graph: Graph) {
        graph.remove(doomed)
        var objects: [AnyObject] = doomed
        release(&objects)
    }

    /// Drops the initializers `isDead` selects from `graph` (order of the rest kept) and releases them in the
    /// background. Returns how many were dropped.
    @discardableResult
    static func removeInitializers(of graph: Graph, where isDead: (Value) -> Bool) -> Int {
        var dead: [AnyObject] = []
        var kept: [Value] = []
        kept.reserveCapacity(graph.initializers.count)
        for value in graph.initializers {
            if isDead(value) { dead.append(value) } else { kept.append(value) }
        }
        guard !dead.isEmpty else { return 0 }
        let count = dead.count
        graph.initializers = kept
        release(&dead)
        return count
    }
}
