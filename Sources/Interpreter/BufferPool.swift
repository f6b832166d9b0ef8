import IR

/// Recycles tensor buffers by exact byte size. Intermediate tensors return here after their last use, so a
/// second run of the same model allocates nothing, and within a run same-sized activations share memory.
final class BufferPool {
    private var free: [Int: [TensorStorage]] = [:]
    private(set) var allocations = 0

    /// A buffer of exactly `byteCount` bytes with unspecified contents.
    func take(byteCount: Int) -> TensorStorage {
        if var list = free[byteCount], let storage = list.popLast() {
            free[byteCount] = list
            return storage
        }
        allocations += 1
        return TensorStorage(zeroed: byteCount)
    }

    /// Returns `storage` for reuse if nothing else references it.
    func recycle(_ storage: inout TensorStorage?) {
        guard var s = storage else { return }
        storage = nil
        if isKnownUniquelyReferenced(&s), s.isWritable {
            free[s.byteCount, default: []].append(s)
        }
    }
}
