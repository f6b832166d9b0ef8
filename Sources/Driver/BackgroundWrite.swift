import Foundation

/// Runs one throwing piece of work (writing an output file) on another thread while the caller goes on;
/// `wait()` joins it and rethrows its error. The machine mcc is built for has two cores: the intermediate ONNX of
/// -target rvc2 is packed and written while the OpenVINO IR is emitted and written.
final class BackgroundWrite: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: Error?
    private var joined = false

    init(_ work: @escaping @Sendable () throws -> Void) {
        Thread.detachNewThread { [self] in
            do { try work() } catch { self.error = error }
            done.signal()
        }
    }

    /// Waits for the work (once) and rethrows its error.
    func wait() throws {
        if !joined {
            done.wait()
            joined = true
        }
        if let error { throw error }
    }

    /// Output must never be committed, nor the staging directory removed, while the work still writes into it.
    deinit { if !joined { done.wait() } }
}
