import Foundation

/// Runs one throwing piece of work on another thread while the caller goes on; `wait()` joins it and rethrows its
/// error. mcc's machines have two cores: the import reads weights while the graph is lifted, and -target rvc2 packs
/// and writes the intermediate ONNX while the OpenVINO IR is emitted and written.
public final class BackgroundWork: @unchecked Sendable {
    /// What the thread holds (not `self`, so that dropping the last reference to the work can wait for it).
    private final class State: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var error: Error?
    }

    private let state = State()
    private var joined = false

    public init(_ work: @escaping @Sendable () throws -> Void) {
        let state = self.state
        Self.startThread {
            do { try work() } catch { state.error = error }
            state.done.signal()
        }
    }

    /// Waits for the work (the first call) and rethrows its error.
    public func wait() throws {
        if !joined {
            state.done.wait()
            joined = true
        }
        if let error = state.error { throw error }
    }

    /// The work may write into memory or a directory its creator is about to release: never leave it running.
    deinit { if !joined { state.done.wait() } }

    /// Runs `work` on another thread that nobody waits for: only for work whose result nobody needs and that
    /// touches nothing but what it owns (freeing a finished import's protobuf messages while the caller goes on).
    public static func detach(_ work: @escaping @Sendable () -> Void) {
        startThread(work)
    }

    /// Runs `work` on a new detached POSIX thread. Not Foundation's `Thread`: its start-up (Thread.current, the
    /// thread's name, their run-time metadata) cost ~0.1 ms per thread, and a compile starts four or five. Where a
    /// thread cannot be created, the work runs on the caller's thread.
    private static func startThread(_ work: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(WorkBox(work)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let box = Unmanaged<WorkBox>.fromOpaque(argument).takeRetainedValue()
            box.work()
            return nil
        }, box)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<WorkBox>.fromOpaque(box).takeRetainedValue().work()
        }
    }

    private final class WorkBox {
        let work: @Sendable () -> Void
        init(_ work: @escaping @Sendable () -> Void) { self.work = work }
    }
}
