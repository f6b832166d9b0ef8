import Emit
import Foundation
import IR

/// OpenVINO's `compile_tool` for MYRIAD, run as ModelConverter runs it (modelconverter.md §2.1 step 4):
/// `compile_tool -m M.xml -d MYRIAD -ip U8 -o M.blob -c CONF` with CONF = shaves, CMX slices (= shaves) and one
/// throughput stream. Runs inside the output directory so recorded commands use relative paths.
struct CompileTool: Sendable {
    let executable: String
    let toolchain: OpenVINOEmitOptions.Toolchain
    /// Working directory (the staged output directory).
    let directory: URL

    struct Run {
        var command: [String]
        var version: String?
    }

    /// The two variables the lookup reads (getenv: ProcessInfo copies the whole environment into a dictionary).
    static func lookupEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in ["MCC_COMPILE_TOOL", "PATH"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }

    /// `--compile-tool PATH`, else `$MCC_COMPILE_TOOL`, else `compile_tool` on PATH; nil when none is found.
    /// An explicitly given path that is not executable is a usage error.
    static func locate(explicit: String?, environment: [String: String] = lookupEnvironment()) throws -> String? {
        for (source, candidate) in [("--compile-tool", explicit), ("MCC_COMPILE_TOOL", environment["MCC_COMPILE_TOOL"])] {
            guard let candidate, !candidate.isEmpty else { continue }
            let resolved = candidate.contains("/") ? candidate : searchPath(candidate, environment: environment)
            guard let path = resolved, isExecutableFile(path) else {
                throw MCCError.usage("\(source) \(candidate): not an executable file")
            }
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }
        return searchPath("compile_tool", environment: environment)
    }

    static func searchPath(_ name: String, environment: [String: String] = lookupEnvironment()) -> String? {
        for dir in (environment["PATH"] ?? "").split(separator: ":") where !dir.isEmpty {
            let path = "\(dir)/\(name)"
            if isExecutableFile(path) { return path }
        }
        return nil
    }

    /// An existing file (symlinks followed) that is not a directory and that we may execute. Plain POSIX calls:
    /// FileManager's first use costs a visible part of a 20 ms compile, and every rvc2 compile searches PATH.
    static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR else { return false }
        return access(path, X_OK) == 0
    }

    /// Config lines (ModelConverter: `MYRIAD_ENABLE_MX_BOOT NO` except for 2021.4, CMX slices = shaves).
    func configLines(shaves: Int) -> [String] {
        var lines = toolchain == .openvino2021_4 ? [] : ["MYRIAD_ENABLE_MX_BOOT NO"]
        lines += ["MYRIAD_NUMBER_OF_SHAVES \(shaves)", "MYRIAD_NUMBER_OF_CMX_SLICES \(shaves)", "MYRIAD_THROUGHPUT_STREAMS 1"]
        return lines
    }

    static func manualCommand(xml: String, blob: String, shaves: Int) -> String {
        "compile_tool -m \(xml) -d MYRIAD -ip U8 -o \(blob) -c CONF (CONF: MYRIAD_NUMBER_OF_SHAVES \(shaves), "
            + "MYRIAD_NUMBER_OF_CMX_SLICES \(shaves), MYRIAD_THROUGHPUT_STREAMS 1)"
    }

    func arguments(xml: String, blob: String, config: String) -> [String] {
        ["-m", xml, "-d", "MYRIAD", "-ip", "U8", "-o", blob, "-c", config]
    }

    /// Compiles `xml` (relative to `directory`) into `blob`, streaming the tool's output to stderr when `stream`.
    func compile(xml: String, blob: String, shaves: Int, config: String, stream: Bool = true) throws -> Run {
        let configURL = directory.appendingPathComponent(config)
        do {
            try FileManager.default.createDirectory(at: configURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data((configLines(shaves: shaves).joined(separator: "\n") + "\n").utf8).write(to: configURL)
        } catch {
            throw MCCError.failure("\(configURL.path): cannot write compile_tool config")
        }
        let args = arguments(xml: xml, blob: blob, config: config)
        if stream { printNote("compiling \(blob) for MYRIAD (\(shaves) shaves) with \(executable)") }
        let (status, text) = try runProcess(args, stream: stream)
        let version = Self.version(in: text)
        guard status == 0 else { throw explain(text, status: status, version: version) }
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(blob).path) else {
            throw MCCError.failure("compile_tool reported success but wrote no \(blob)")
        }
        return Run(command: ["compile_tool"] + args, version: version)
    }

    /// Runs the tool with stdout and stderr merged; forwards each line (prefixed) when `stream`.
    private func runProcess(_ args: [String], stream: Bool) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw MCCError.failure("\(executable): cannot run (\(error.localizedDescription))")
        }
        var collected = Data()
        var pending = Data()
        let handle = pipe.fileHandleForReading
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            collected.append(chunk)
            guard stream else { continue }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    printToStandardError("  compile_tool: \(line)\n")
                }
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: collected, as: UTF8.self))
    }

    /// "OpenVINO Runtime version ......... 2021.4.2" → "2021.4.2".
    static func version(in output: String) -> String? {
        for line in output.split(separator: "\n") where line.contains("OpenVINO") && line.contains("version") {
            if let last = line.split(separator: " ").last, last.first?.isNumber == true { return String(last) }
        }
        return nil
    }

    /// Turns compile_tool's failure into one line saying which layer failed and what to try.
    func explain(_ output: String, status: Int32, version: String?) -> MCCError {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let tool = "compile_tool" + (version.map { " (OpenVINO \($0))" } ?? "")
        if let line = lines.first(where: { $0.contains("Failed to compile layer") }) {
            let quoted = line.split(separator: "\"", omittingEmptySubsequences: false).map(String.init)
            let layer = quoted.count > 1 ? quoted[1] : "?"
            if line.contains("unsupported layer type"), quoted.count > 3 {
                return MCCError.failure("\(tool) cannot compile layer '\(layer)': the MYRIAD compiler has no \(quoted[3]) "
                    + "layer; try replacing that op in the ONNX model (the layer is named after its ONNX node) or another target")
            }
            let detail = line.components(separatedBy: "\": ").dropFirst().joined(separator: "\": ")
            return MCCError.failure("\(tool) failed on layer '\(layer)': \(detail.isEmpty ? line : detail); "
                + "try fewer --shaves, or --tool-version \(toolchain == .openvino2021_4 ? "2022.3" : "2021.4") with the matching compile_tool")
        }
        if toolchain == .openvino2022_3,
           lines.contains(where: { $0.contains("Unknown model format") || $0.contains("unsupported opset") || $0.contains("Cannot find reader") }) {
            return MCCError.failure("\(tool) cannot read this IR v11 (OpenVINO 2022.3 format): it reads IR v10 with opsets <= 7; "
                + "rerun with --tool-version 2021.4")
        }
        let last = lines.last(where: { !$0.isEmpty }) ?? "no output"
        return MCCError.failure("\(tool) failed (exit status \(status)): \(last)")
    }
}
