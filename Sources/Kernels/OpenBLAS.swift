import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenBLAS could not be loaded (an installation problem: libopenblas0 / libopenblas-dev missing).
public struct BLASUnavailable: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Loads OpenBLAS if that has not happened yet. Throws `BLASUnavailable` (one line naming the library) when it
/// cannot be loaded; the GEMM-based kernels (sgemm, gemm, conv2d, convTranspose2d, lstm) require a successful call
/// first, which the interpreter makes before running any op that uses them.
public func loadBLAS() throws {
    if case .failure(let error) = OpenBLAS.loaded { throw error }
}

/// OpenBLAS, loaded on first use with dlopen instead of linked into the executable.
///
/// Linked, the pthread build of OpenBLAS starts its worker threads in a load-time constructor, and they spin
/// (sched_yield) for a while waiting for work: ~40 ms of CPU in every mcc process, including compiles that never
/// multiply a matrix. Loaded lazily, only processes that run a GEMM pay for it. `MCC_OPENBLAS` names the library
/// to load instead of the default search (tests use it to check the error path).
enum OpenBLAS {
    // cblas.h enum values (CBLAS_ORDER, CBLAS_TRANSPOSE).
    static let rowMajor: UInt32 = 101
    static let noTrans: UInt32 = 111
    static let trans: UInt32 = 112

    typealias SGEMM = @convention(c) (
        UInt32, UInt32, UInt32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
        Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias SGEMV = @convention(c) (
        UInt32, UInt32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
        UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void

    struct Functions: @unchecked Sendable {
        let sgemm: SGEMM
        let sgemv: SGEMV
        let setNumThreads: SetThreads
    }

    /// The entry points or why they are missing; loading happens once (Swift's lazy static initialisation is
    /// thread-safe).
    static let loaded: Result<Functions, BLASUnavailable> = {
        var candidates = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib"]
        if let override = ProcessInfo.processInfo.environment["MCC_OPENBLAS"], !override.isEmpty { candidates = [override] }
        // Single-threaded inside our own parallel blocks (see KernelConfig). Set before loading, the pthread build then
        // starts no worker threads at all, instead of starting them and leaving them idle.
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        var handle: UnsafeMutableRawPointer?
        var reason = "not found"
        for name in candidates where handle == nil {
            handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)
            if handle == nil, let message = dlerror() { reason = String(cString: message) }
        }
        guard let handle else {
            return .failure(BLASUnavailable(description: "cannot load OpenBLAS (\(candidates[0])): \(reason)"))
        }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let sgemm = symbol("cblas_sgemm", as: SGEMM.self), let sgemv = symbol("cblas_sgemv", as: SGEMV.self),
              let setThreads = symbol("openblas_set_num_threads", as: SetThreads.self) else {
            return .failure(BLASUnavailable(description: "cannot load OpenBLAS (\(candidates[0])): missing cblas_sgemm/cblas_sgemv/openblas_set_num_threads"))
        }
        setThreads(1)
        return .success(Functions(sgemm: sgemm, sgemv: sgemv, setNumThreads: setThreads))
    }()

    /// The loaded entry points. Callers have checked `loadBLAS()`: reaching this without OpenBLAS is a
    /// programming error, not a property of the input.
    static var functions: Functions {
        switch loaded {
        case .success(let functions): return functions
        case .failure(let error): preconditionFailure("\(error) (loadBLAS() was not checked)")
        }
    }
}
