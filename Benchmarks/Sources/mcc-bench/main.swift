import Foundation
import IR
import Interpreter
import Passes
import ONNXFormat

// mcc-bench: in-process measurements printed as one JSON object per run, for Benchmarks/*.py to tabulate.
//   mcc-bench load MODEL [REPEATS]   time of ONNXReader.load (median of REPEATS), peak RSS over the process baseline
//   mcc-bench run MODEL REF_DIR THREADS REPEATS [OPT]   interpreter latency after the -O<OPT> pipeline (default 2) on REF_DIR/input_K.npy (median after warm-up)

func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}

func currentRSSBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

/// CPU time of the whole process (all threads), in milliseconds: on a loaded machine it tracks the work done far
/// better than wall time, which is what before/after comparisons of kernels need.
func processCPUMilliseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
}

let args = CommandLine.arguments
if args.count >= 3, args[1] == "run" {
    runBenchmark(Array(args.dropFirst(2)))
    exit(0)
}
guard args.count >= 3, args[1] == "load" else {
    FileHandle.standardError.write(Data("usage: mcc-bench load MODEL [REPEATS] | run MODEL REF_DIR THREADS REPEATS\n".utf8))
    exit(2)
}
let path = args[2]
let repeats = args.count > 3 ? max(1, Int(args[3]) ?? 5) : 5
let baseline = currentRSSBytes()
var times: [Double] = []
var retainedRSS = 0
do {
    for i in 0..<repeats {
        var model: Model?
        times.append(try milliseconds { model = try ONNXReader.load(path: path) })
        if i == 0 { retainedRSS = currentRSSBytes() - baseline }
        withExtendedLifetime(model) {}
    }
} catch {
    FileHandle.standardError.write(Data("mcc-bench: \(error)\n".utf8))
    exit(1)
}
times.sort()
let result: [String: Any] = [
    "tool": "mcc", "model": path, "repeats": repeats,
    "median_ms": times[times.count / 2], "min_ms": times[0],
    "peak_rss_over_baseline_mb": Double(peakRSSBytes() - baseline) / 1_048_576,
    "retained_rss_mb": Double(retainedRSS) / 1_048_576,
]
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))

func runBenchmark(_ rest: [String]) {
    guard rest.count == 4 || rest.count == 5, let threads = Int(rest[2]), let repeats = Int(rest[3]),
          let level = rest.count == 5 ? Int(rest[4]) : 2, (0...2).contains(level) else {
        FileHandle.standardError.write(Data("usage: mcc-bench run MODEL REF_DIR THREADS REPEATS [OPT_LEVEL=2]\n".utf8))
        exit(2)
    }
    do {
        let model = try ONNXReader.load(path: rest[0])
        let inputs = try model.graph.inputs.indices.map { try NumpyFile.read(path: "\(rest[1])/input_\($0).npy") }
        if level > 0 {
            // As onnxruntime applies its graph optimizations when a session is created, the interpreter runs the
            // model after mcc's own pipeline at the input shapes of the reference inputs.
            var fixed: [String: [Int]] = [:]
            for (input, tensor) in zip(model.graph.inputs, inputs) { fixed[input.name] = tensor.shape }
            let report = try ShapeInference(fixedInputShapes: fixed, opset: model.defaultOpset).run(on: model)
            InlineStaticIf(conditions: report.staticIfConditions).run(on: model)
            var manager = PassManager()
            try manager.run(Pipelines.level(level), on: model, context: PassContext(opset: model.defaultOpset))
        }
        let interpreter = try Interpreter(model: model, threads: threads)
        for _ in 0..<3 { _ = try interpreter.run(inputs) }  // warm-up: buffer pool, caches
        var times: [Double] = []
        var cpuTimes: [Double] = []
        for _ in 0..<max(1, repeats) {
            let cpuStart = processCPUMilliseconds()
            times.append(try milliseconds { _ = try interpreter.run(inputs) })
            cpuTimes.append(processCPUMilliseconds() - cpuStart)
        }
        cpuTimes.sort()
        if ProcessInfo.processInfo.environment["MCC_BENCH_PROFILE"] != nil {
            // Per-op time over a further `repeats` runs, on stderr (stdout stays one JSON object).
            interpreter.profile = OpProfile()
            for _ in 0..<max(1, repeats) { _ = try interpreter.run(inputs) }
            if let table = interpreter.profile?.table { FileHandle.standardError.write(Data((table + "\n").utf8)) }
        }
        times.sort()
        let result: [String: Any] = ["tool": "mcc", "threads": threads, "median_ms": times[times.count / 2], "min_ms": times[0],
                                     "median_cpu_ms": cpuTimes[cpuTimes.count / 2]]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    } catch {
        FileHandle.standardError.write(Data("mcc-bench: \(error)\n".utf8))
        exit(1)
    }
}
