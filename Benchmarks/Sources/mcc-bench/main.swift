import Foundation
import IR
import ONNXFormat

// mcc-bench: in-process measurements printed as one JSON object per run, for Benchmarks/*.py to tabulate.
//   mcc-bench load MODEL [REPEATS]   time of ONNXReader.load (median of REPEATS), peak RSS over the process baseline

func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF, &usage)
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

let args = CommandLine.arguments
guard args.count >= 3, args[1] == "load" else {
    FileHandle.standardError.write(Data("usage: mcc-bench load MODEL [REPEATS]\n".utf8))
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
