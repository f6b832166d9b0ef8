import Foundation
import Synchronization

/// The persistent threads behind `parallelFor`.
///
/// Why not `DispatchQueue.concurrentPerform`: the interpreter calls `parallelFor` hundreds of times per inference,
/// mostly for work of tens of microseconds, and waking libdispatch's workers for each call costs about as much as
/// the work (measured: 2 threads barely faster than 1, while onnxruntime gains ~1.8×). As in onnxruntime's pool,
/// workers spin for a while after each job, so back-to-back jobs start without a wake-up, then sleep on a condition.
/// The calling thread takes chunks too. A job submitted while another runs (a nested or concurrent `parallelFor`)
/// runs inline on its caller, so the pool never waits on itself.
///
/// Claiming: `ticket` packs the job's generation (high bits) and the number of unclaimed chunks (low 32 bits).
/// A thread claims chunk `n - 1` by decrementing `n` with a compare-exchange that also checks the generation, so a
/// successful claim proves the submitter is still waiting for that chunk and the job it published is alive.
final class WorkerPool: @unchecked Sendable {
    /// Spin iterations before a worker sleeps (tens of µs): longer than the gap between two kernels of one inference.
    private static let spinLimit = 30_000
    private static let countMask = (1 << 32) - 1

    private struct Job {
        let body: (Int) -> Void
    }

    let workerCount: Int
    private let busy = Atomic<Bool>(false)
    private let ticket = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let job = Atomic<UnsafeRawPointer?>(nil)
    private let condition = NSCondition()

    init(threads: Int) {
        workerCount = max(0, threads - 1)
        for _ in 0..<workerCount {
            let thread = Thread { [self] in self.workerLoop() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body(c)` for every `c` in `0..<chunks` on the workers and the calling thread; returns when all ran.
    func run(chunks: Int, _ body: (Int) -> Void) {
        guard workerCount > 0, chunks > 1, chunks <= Self.countMask,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0..<chunks { body(c) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var current = Job(body: escapable)
            withUnsafePointer(to: &current) { pointer in
                finished.store(0, ordering: .relaxed)
                job.store(UnsafeRawPointer(pointer), ordering: .relaxed)
                let generation = (ticket.load(ordering: .relaxed) >> 32) + 1
                condition.lock()
                ticket.store(generation << 32 | chunks, ordering: .releasing)
                condition.broadcast()
                condition.unlock()
                claimChunks(generation: generation)
                while finished.load(ordering: .acquiring) < chunks {}
                job.store(nil, ordering: .relaxed)
            }
        }
        busy.store(false, ordering: .releasing)
    }

    /// Runs chunks of job `generation` until none is left unclaimed.
    private func claimChunks(generation: Int) {
        var t = ticket.load(ordering: .acquiring)
        while t >> 32 == generation, t & Self.countMask > 0 {
            let (exchanged, original) = ticket.compareExchange(expected: t, desired: t - 1, ordering: .acquiringAndReleasing)
            guard exchanged else {
                t = original
                continue
            }
            if let pointer = job.load(ordering: .acquiring) {
                pointer.assumingMemoryBound(to: Job.self).pointee.body((t & Self.countMask) - 1)
            }
            finished.add(1, ordering: .releasing)
            t = ticket.load(ordering: .acquiring)
        }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            var spins = 0
            var generation = ticket.load(ordering: .acquiring) >> 32
            while generation == seen {
                spins += 1
                if spins >= Self.spinLimit {
                    condition.lock()
                    while ticket.load(ordering: .acquiring) >> 32 == seen { condition.wait() }
                    condition.unlock()
                }
                generation = ticket.load(ordering: .acquiring) >> 32
            }
            seen = generation
            claimChunks(generation: generation)
        }
    }
}
