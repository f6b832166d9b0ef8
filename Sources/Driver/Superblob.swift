import Foundation
import IR

/// ModelConverter's `.superblob` (modelconverter.md §2.1 step 5): one blob compiled for 8 shaves plus, for each
/// shave count 1...16 except 8, a BSDIFF40 patch that turns it into that count's blob. Layout: a 136-byte header
/// of 17 big-endian u64 (base size, then patch sizes for shaves 1...16 with 0 for 8), the base blob, the patches in
/// ascending shave order.
///
/// Patches come from Debian's `bsdiff` (package bsdiff 4.3): it writes the BSDIFF40 format (bzip2-compressed
/// control/diff/extra blocks) that the Python `bsdiff4` module ModelConverter uses writes and that DepthAI's bspatch
/// applies; on the same inputs the two produced byte-identical patches here.
enum Superblob {
    static let variants = (1...16).filter { $0 != 8 }

    struct Result {
        var file: String
        var commands: [String: [String]]
        var toolVersion: String?
    }

    static func build(compiler: CompileTool, xml: String, stem: String, output: OutputDirectory,
                      clock: inout StageClock) throws -> Result {
        guard let bsdiff = locateBsdiff() else {
            throw MCCError.failure("--superblob needs the bsdiff tool (Debian: apt-get install bsdiff) or $MCC_BSDIFF")
        }
        let dir = "intermediate_outputs/blobs"
        @Sendable func blobName(_ shaves: Int) -> String { "\(dir)/\(stem)_\(shaves)shave.blob" }
        @Sendable func confName(_ shaves: Int) -> String { "\(dir)/\(stem)_\(shaves)shave.conf" }
        var commands: [String: [String]] = [:]
        let base = try clock.measure("compile_tool (8 shaves)") {
            try compiler.compile(xml: xml, blob: blobName(8), shaves: 8, config: confName(8))
        }
        commands["compile_tool_8shave"] = base.command

        printNote("superblob: compiling \(variants.count) more shave variants (1-16)")
        let results = ResultBox()
        clock.measure("compile_tool (\(variants.count) shave variants) + bsdiff") {
        DispatchQueue.concurrentPerform(iterations: variants.count) { i in
            let shaves = variants[i]
            do {
                let run = try compiler.compile(xml: xml, blob: blobName(shaves), shaves: shaves, config: confName(shaves),
                                               stream: false)
                let patch = "\(dir)/\(stem)_\(shaves)shave.patch"
                let diff = [bsdiff, blobName(8), blobName(shaves), patch]
                try runChecked(diff, in: compiler.directory)
                results.add(shaves, run: run, diff: ["bsdiff", blobName(8), blobName(shaves), patch])
                let done = results.count
                printToStandardError("  superblob: \(shaves)-shave variant done (\(done)/\(variants.count))\n")
            } catch {
                results.fail(shaves, error)
            }
        }
        }
        if let (shaves, error) = results.firstFailure {
            let message = (error as? MCCError)?.message ?? "\(error)"
            throw MCCError.failure("superblob: \(shaves)-shave variant: \(message)")
        }

        let root = compiler.directory
        func read(_ path: String) throws -> Data {
            do { return try Data(contentsOf: root.appendingPathComponent(path)) } catch {
                throw MCCError.failure("\(path): cannot read")
            }
        }
        let baseBlob = try read(blobName(8))
        var patches: [Int: Data] = [:]
        for shaves in variants { patches[shaves] = try read("\(dir)/\(stem)_\(shaves)shave.patch") }
        let file = "\(stem).superblob"
        try output.write(assemble(base: baseBlob, patches: patches), to: file)
        for (shaves, run) in results.runs { commands["compile_tool_\(shaves)shave"] = run.command }
        for (shaves, diff) in results.diffs { commands["bsdiff_\(shaves)shave"] = diff }
        return Result(file: file, commands: commands, toolVersion: base.version)
    }

    /// Header (17 × u64 big-endian) + base + patches for shaves 1...16 (none for 8).
    static func assemble(base: Data, patches: [Int: Data]) -> Data {
        var out = Data()
        func u64(_ v: Int) {
            withUnsafeBytes(of: UInt64(v).bigEndian) { out.append(contentsOf: $0) }
        }
        u64(base.count)
        for shaves in 1...16 { u64(shaves == 8 ? 0 : patches[shaves]?.count ?? 0) }
        out.append(base)
        for shaves in 1...16 where shaves != 8 { if let patch = patches[shaves] { out.append(patch) } }
        return out
    }

    static func locateBsdiff() -> String? {
        if let env = ProcessInfo.processInfo.environment["MCC_BSDIFF"], FileManager.default.isExecutableFile(atPath: env) {
            return env
        }
        return CompileTool.searchPath("bsdiff")
    }

    private static func runChecked(_ command: [String], in directory: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw MCCError.failure("\(command[0]) failed: \(text.split(separator: "\n").last ?? "")")
        }
    }
}

/// Results of concurrent variant builds.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var runs: [(Int, CompileTool.Run)] = []
    private(set) var diffs: [(Int, [String])] = []
    private var failures: [(Int, Error)] = []

    func add(_ shaves: Int, run: CompileTool.Run, diff: [String]) {
        lock.lock(); defer { lock.unlock() }
        runs.append((shaves, run))
        diffs.append((shaves, diff))
    }

    func fail(_ shaves: Int, _ error: Error) {
        lock.lock(); defer { lock.unlock() }
        failures.append((shaves, error))
    }

    var count: Int { lock.lock(); defer { lock.unlock() }; return runs.count }
    var firstFailure: (Int, Error)? { lock.lock(); defer { lock.unlock() }; return failures.min { $0.0 < $1.0 } }
}
