#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenBLAS, loaded on first use with dlopen instead of linked into the executable.
///
/// Linked, the pthread build of OpenBLAS starts its worker threads in a load-time constructor, and they spin
/// (sched_yield) for a while waiting for work: ~40 ms of CPU in every mcc process, including compiles that never
/// multiply a matrix. Loaded lazily, only processes that run a GEMM pay for it.
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

    /// The entry points; loading happens once (Swift's lazy static initialisation is thread-safe).
    static let functions: Functions = {
        let candidates = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib"]
        // Single-threaded inside our own parallel blocks (see KernelConfig). Set before loading, the pthread build then
        // starts no worker threads at all, instead of starting them and leaving them idle.
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        var handle: UnsafeMutableRawPointer?
        for name in candidates where handle == nil { handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) }
        func symbol<T>(_ name: String, as type: T.Type) -> T {
            guard let handle, let pointer = dlsym(handle, name) else {
                let reason = dlerror().map { String(cString: $0) } ?? "not found"
                // Not a property of the input: an installation problem (libopenblas-dev / libopenblas0 missing).
                fatalError("mcc: cannot load OpenBLAS (\(candidates[0])): \(reason)")
            }
            return unsafeBitCast(pointer, to: type)
        }
        let functions = Functions(sgemm: symbol("cblas_sgemm", as: SGEMM.self), sgemv: symbol("cblas_sgemv", as: SGEMV.self),
                                  setNumThreads: symbol("openblas_set_num_threads", as: SetThreads.self))
        functions.setNumThreads(1)
        return functions
    }()

}
