import ArgumentParser
import Foundation
import IR

/// The `mcc` command line. `mcc MODEL -target T -O2` compiles (the default subcommand); `inspect` and `run` are
/// named subcommands. Exit codes: 0 ok, 1 failure, 2 usage/config error, 3 unsupported.
public struct MCC: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mcc",
        abstract: "Native model compiler for Luxonis cameras (ONNX to RVC2/RVC3/RVC4/Hailo).",
        version: mccVersion,
        subcommands: [Compile.self, Inspect.self, Run.self],
        defaultSubcommand: Compile.self
    )

    public init() {}

    /// Set by the mcc executable, which exits as soon as the command returns: the compiled model is then left for
    /// the process exit to reclaim (freeing its thousands of objects one by one is wasted work at that point).
    nonisolated(unsafe) public static var leavesModelToExit = false
    nonisolated(unsafe) static var keptUntilExit: [AnyObject] = []

    /// Parses `arguments`, runs the command and returns the process exit code. Errors print one line to stderr.
    public static func runMain(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Int32 {
        Invocation.arguments = arguments
        do {
            if let job = CompileJob(fastParsing: arguments) {
                // Only for the plain onnx/rvc2 compiles the fast path takes: with trimming and mmap'd blocks off,
                // memory a quantizer run frees would stay resident (ppocrv4_det's rvc4 peak rose from ~400 to
                // ~500 MB), and its runtime is not start-up bound.
                if leavesModelToExit { tuneAllocatorForOneShotProcess() }
                try job.run()
                return 0
            }
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let error as MCCError {
            printError(error.message)
            return error.exitCode
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help and --version arrive as errors that print to stdout.
                print(fullMessage(for: error))
                return 0
            }
            printError(message(for: error))
            return 2
        }
    }
}

let mccVersion = "0.1.0"

/// glibc malloc settings for a process that compiles one model (onnx/rvc2) and exits (set before the first large
/// allocation):
/// - no trimming of the heap top: memory freed between stages is reused by the next one instead of being returned
///   with brk and faulted in again page by page;
/// - the heap grows 4 MiB at a time (address space only: pages are still faulted in when first written);
/// - blocks up to 32 MiB come from the heap instead of a fresh mmap each (every mmap'd block is faulted in page by
///   page and unmapped on free).
/// Together with the huge-page heap below, peak RSS grows by up to ~2.5 MiB (a huge page is resident whole); every
/// corpus model stays well inside issue 5's budget (1.2 × ONNX + 30 MB).
private func tuneAllocatorForOneShotProcess() {
    #if canImport(Glibc)
    // <malloc.h>'s M_TRIM_THRESHOLD, M_TOP_PAD and M_MMAP_THRESHOLD (not exported by the Glibc module).
    _ = glibcMallopt(-1, 256 << 20)
    _ = glibcMallopt(-2, 4 << 20)
    _ = glibcMallopt(-3, 32 << 20)
    // Page faults are the largest single cost of a small compile on the VMs mcc is benchmarked on (several µs
    // each). The main thread's heap blocks are made to start on a 2 MiB boundary and those blocks are advised for
    // transparent huge pages: a few huge faults instead of ~300 small ones. The block that skips ahead to the
    // boundary is never written (address space only, never resident) and deliberately never freed.
    let huge = 2 << 20
    // A block this large comes from the top of the heap (its start is where the next blocks would go), and freeing
    // it merges it back into the top.
    // Each block's address is stored in a global: otherwise the optimizer may drop an allocation nobody writes.
    guard let probe = malloc(256 << 10) else { return }
    heapHole = probe
    let top = Int(bitPattern: probe)
    free(probe)
    let boundary = (top + 4096 + huge - 1) / huge * huge
    heapHole = malloc(boundary - top - 32)
    // Grow the heap now (this block, never written, + the top pad), then advise the whole 2 MiB blocks it spans from
    // the boundary on (its 16-byte header sits just below the boundary). The 2 MiB block holding the header malloc
    // writes after it is left out: that write already faulted in a small page there.
    let growthSize = (6 << 20) + 4096
    guard let growth = malloc(growthSize) else { return }
    heapGrowth = growth
    let end = min(Int(bitPattern: sbrk(0)), Int(bitPattern: growth) + growthSize) / huge * huge
    if Int(bitPattern: growth) + 64 >= boundary, end > boundary, let p = UnsafeMutableRawPointer(bitPattern: boundary) {
        _ = madvise(p, end - boundary, MADV_HUGEPAGE)
    }
    free(growth)
    #endif
}

/// The never-written block below the heap's first 2 MiB boundary, and the one that grew the heap (freed).
nonisolated(unsafe) private var heapHole: UnsafeMutableRawPointer?
nonisolated(unsafe) private var heapGrowth: UnsafeMutableRawPointer?

#if canImport(Glibc)
/// glibc's `int mallopt(int param, int value)` (<malloc.h> is not part of the Glibc module).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

func printError(_ message: String) {
    printToStandardError("mcc: error: \(message)\n")
}

func printWarning(_ message: String) {
    printToStandardError("mcc: warning: \(message)\n")
}

func printToStandardError(_ text: String) {
    writeText(text, to: STDERR_FILENO)
}

/// Writes `text` to a file descriptor with write(2): FileHandle and Data(String.utf8) instantiate generic metadata
/// and cast dynamically on first use, a visible part of a 20 ms compile. Errors (a closed pipe) are ignored, as
/// FileHandle.write's were not reported either.
func writeText(_ text: String, to descriptor: Int32) {
    var text = text
    text.withUTF8 { bytes in
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = write(descriptor, p, left)
            if n < 0 { if errno == EINTR { continue }; return }
            if n == 0 { return }
            p += n
            left -= n
        }
    }
}
