import Dispatch
import Foundation

/// Process-wide kernel settings.
///
/// `threads` is the number of chunks our parallel loops (`parallelFor`, and `sgemm`'s blocks) split into.
/// OpenBLAS always runs single-threaded inside those chunks: its own workers busy-wait for a long time after each
/// call, and on a 2-core machine they then fight our threads for the cores (measured: 2 threads slower than 1).
/// Set it once, before running kernels; changing it while kernels run on other threads is a programming error.
public enum KernelConfig {
    nonisolated(unsafe) private static var storedThreads = ProcessInfo.processInfo.activeProcessorCount

    /// The number of threads `parallelFor` and `sgemm` use; at least 1.
    public static var threads: Int {
        get { storedThreads }
        set { storedThreads = max(1, newValue) }
    }
}

/// Runs `body` over `0..<count` split into at most `KernelConfig.threads` contiguous chunks.
///
/// `minChunk` is the smallest chunk worth a thread hop; work below it runs inline. The body gets a half-open range.
@inline(__always)
func parallelFor(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    // Work of one chunk runs inline without reading `KernelConfig.threads`: its first read asks the OS for the
    // processor count (cgroup files through Foundation), which small constant folds in a compile never need.
    let wanted = max(1, count / max(1, minChunk))
    let chunks = wanted == 1 ? 1 : min(KernelConfig.threads, wanted)
    if chunks <= 1 {
        body(0..<count)
        return
    }
    WorkerPool.shared(threads: KernelConfig.threads).run(chunks: chunks) { c in
        let lo = count * c / chunks
        let hi = count * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}

extension WorkerPool {
    nonisolated(unsafe) private static var pools: [Int: WorkerPool] = [:]
    private static let poolsLock = NSLock()

    /// One pool per thread count, created on first use and kept for the life of the process.
    static func shared(threads: Int) -> WorkerPool {
        poolsLock.lock()
        defer { poolsLock.unlock() }
        if let pool = pools[threads] { return pool }
        let pool = WorkerPool(threads: threads)
        pools[threads] = pool
        return pool
    }
}

/// Carries a value into a `@Sendable` closure when the caller guarantees the accesses are disjoint.
struct UncheckedSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
