import ArgumentParser
import Foundation
import IR
import ONNXFormat
import Passes

/// `mcc MODEL -target T -O<n> [-o DIR] [--shape NAME=d0,d1,...]`: the compiler proper.
struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        // Named explicitly: deriving the name from the type reflects on it, a measurable part of startup.
        commandName: "compile",
        abstract: "Compile an ONNX model for a target (the default command).")

    @Argument(help: "The ONNX model.") var model: String

    @Option(name: [.customLong("target", withSingleDash: true), .customLong("target")],
            help: "Target: \(Target.allCases.map(\.rawValue).joined(separator: ", ")).")
    var target: Target = .onnx

    @Option(name: .customShort("O", allowingJoined: true), help: "Optimization level: -O0, -O1 or -O2.")
    var optimizationLevel: Int = 0

    @Option(name: [.customShort("o"), .customLong("output-dir")],
            help: "Output directory (default <model stem>_to_<target>_<UTC timestamp>).")
    var outputDirectory: String?

    @Option(name: .customLong("shape"), parsing: .singleValue,
            help: ArgumentHelp("Fix an input's dims: NAME=d0,d1,... (repeatable).", valueName: "shape"))
    var shapes: [String] = []

    // Means may be negative ("--mean -1,0,1"): take the next argument even though it starts with a dash.
    @Option(name: .customLong("mean"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Fold input normalization: NAME=v0,v1,v2 or v (every image input); y = (x - mean) / scale.", valueName: "mean"))
    var means: [String] = []

    @Option(name: .customLong("scale"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Scale values, as --mean (non-zero).", valueName: "scale"))
    var scales: [String] = []

    @Option(name: .customLong("encoding"), parsing: .singleValue,
            help: ArgumentHelp("Colour encoding FROM:TO (model's, fed), e.g. RGB:BGR; NAME=FROM:TO for one input.", valueName: "encoding"))
    var encodings: [String] = []

    @Option(name: .customLong("layout"), parsing: .singleValue,
            help: ArgumentHelp("Layout the compiled model is fed: NCHW or NHWC (NAME=NHWC for one input).", valueName: "layout"))
    var layouts: [String] = []

    @Flag(name: .customLong("verify-each"), help: "Run the IR verifier after every pass that changed the model.")
    var verifyEach = false

    @Option(name: .customLong("print-after"), parsing: .singleValue,
            help: ArgumentHelp("Print the IR to stderr after pass PASS ('*' for every pass; repeatable).", valueName: "pass"))
    var printAfter: [String] = []

    @Flag(name: .customLong("dump-ir"), help: "Print the final IR to stderr.") var dumpIR = false

    @Flag(name: .shortAndLong, help: "Report each stage and pass and its time.") var verbose = false

    @OptionGroup(title: "rvc2 options") var rvc2: RVC2Options

    @OptionGroup(title: "rvc4 target") var rvc4: RVC4Options

    func run() throws {
        try CompileJob(model: model, target: target, optimizationLevel: optimizationLevel,
                       outputDirectory: outputDirectory, shapes: shapes, means: means, scales: scales,
                       encodings: encodings, layouts: layouts, verifyEach: verifyEach, printAfter: printAfter,
                       dumpIR: dumpIR, verbose: verbose, rvc2: rvc2.flags, rvc4: rvc4).run()
    }
}

/// What `mcc MODEL ...` was asked to do, as plain values: parsed by ArgumentParser (`Compile`) or, for the
/// common command lines, by `CompileJob(fastParsing:)` (FastArguments.swift).
struct CompileJob {
    var model: String
    var target: Target = .onnx
    var optimizationLevel = 0
    var outputDirectory: String?
    var shapes: [String] = []
    var means: [String] = []
    var scales: [String] = []
    var encodings: [String] = []
    var layouts: [String] = []
    var verifyEach = false
    var printAfter: [String] = []
    var dumpIR = false
    var verbose = false
    var rvc2 = RVC2Flags()
    /// Always set for -target rvc4 (the fast path leaves that target to ArgumentParser).
    var rvc4: RVC4Options?

    func run() throws {
        guard (0...2).contains(optimizationLevel) else {
            throw MCCError.usage("-O\(optimizationLevel): optimization level must be 0, 1 or 2")
        }
        let overrides = try shapes.map(ShapeOverride.init(parsing:))
        let preprocessing = try PreprocessingOptions(mean: means, scale: scales, encoding: encodings, layout: layouts)
        if !printAfter.isEmpty {
            let knownPasses = Pipelines.passNames
            for name in printAfter where name != "*" && !knownPasses.contains(name) {
                throw MCCError.usage("--print-after '\(name)': no such pass; passes are \(knownPasses.joined(separator: ", "))")
            }
        }
        guard target == .onnx || target == .rvc2 || target == .rvc4 else {
            throw MCCError.unsupported("target \(target.rawValue) is not available in this version of mcc (available: onnx, rvc2, rvc4)")
        }
        if target != .rvc2, rvc2.anyGiven {
            throw MCCError.usage("--tool-version, --no-fp16, --shaves, --compile-tool and --superblob apply to -target rvc2 only")
        }
        let rvc2Settings = target == .rvc2 ? try rvc2.validated() : nil
        let stem = modelStem(model)
        let output = try OutputDirectory(path: outputDirectory ?? defaultOutputName(stem: stem))
        var clock = StageClock(verbose: verbose)

        let loaded = try clock.measure("import") { try ONNXReader.load(path: model) }
        let fixed = try ShapeOverride.resolve(overrides, inputs: loaded.graph.inputs.map(\.name))
        try clock.measure("shape inference") {
            let report = try ShapeInference(fixedInputShapes: fixed, opset: loaded.defaultOpset).run(on: loaded)
            if !report.invalidIfBranches.isEmpty {
                for node in loaded.graph.allNodes() {
                    if let reason = report.invalidIfBranches[ObjectIdentifier(node)] {
                        printWarning("\(node.label): \(reason); keeping only the other branch")
                    }
                }
            }
            if !report.staticIfConditions.isEmpty { InlineStaticIf(conditions: report.staticIfConditions).run(on: loaded) }
            // The loaded model was verified on import; the check after the passes covers inlining too. Without
            // passes (-O0) nothing else checks the model before it is written.
            if verifyEach || Pipelines.level(optimizationLevel).passes.isEmpty { try Verifier.verify(loaded) }
        }
        var options = try preprocessing.resolve(against: loaded.graph)
        // rvc2 runs in FP16: the FP16 pass (where the pipeline has one) stores weights as f16 + Cast.
        options.castToFP16 = target == .rvc2 && !rvc2.noFP16
        // -target rvc2 verifies on the thread that writes the intermediate ONNX, while the IR is emitted: both only
        // read the model, and nothing is committed unless the verifier passed.
        let verifyWhileEmitting = try runPasses(on: loaded, options: options, clock: &clock,
                                                deferVerification: rvc2Settings != nil)
        forgetInferredTypesInsideSubgraphs(loaded.graph)
        if dumpIR { printToStandardError(IRPrinter().print(loaded)) }
        var produced: [String]
        if let rvc2Settings {
            let pipeline = Pipelines.level(optimizationLevel)
            let rvc2Target = RVC2Target(
                options: rvc2, toolchain: rvc2Settings.toolchain, shaves: rvc2Settings.shaves,
                optimizationLevel: optimizationLevel,
                pipelineCastsToFP16: pipeline.passes.contains { $0.name == "fp16-casting" },
                verifiesModel: verifyWhileEmitting)
            produced = try rvc2Target.build(model: loaded, stem: stem, output: output, clock: &clock)
        } else if target == .rvc4 {
            produced = try clock.measure("rvc4") {
                guard let rvc4 else { throw MCCError.failure("-target rvc4: options were not parsed") }
                var rvc4Target = RVC4Target(options: rvc4, verbose: verbose)
                rvc4Target.optimizationLevel = optimizationLevel
                return try rvc4Target.emit(loaded, stem: stem, output: output, passOptions: options)
            }
        } else {
            try clock.measure("export") {
                // The staged directory is committed atomically: no temporary file + rename per file.
                try ONNXWriter.write(loaded, to: output.stagedPath("\(stem).onnx"),
                                     options: ONNXWriter.Options(replacesAtomically: false))
            }
            produced = ["\(stem).onnx"]
        }
        try output.commit()
        if verbose {
            let total = clock.timings.reduce(0) { $0 + $1.1 }
            printToStandardError("mcc: total: \(String(format: "%.1f", total)) ms\n")
        }
        let directory = output.destinationPath == "/" ? "" : output.destinationPath
        // Appended one by one: `joined()` looked its witnesses up at run time (~0.1 ms of every compile).
        var listing = ""
        for file in produced { listing += directory + "/" + file + "\n" }
        writeText(listing, to: STDOUT_FILENO)
        if MCC.leavesModelToExit { MCC.keptUntilExit.append(loaded) }
    }

    /// Runs the -O pipeline; prints warnings, per-pass timings (-v) and requested IR dumps to stderr. Returns true
    /// when the model still needs its verification after the passes, which `deferVerification` leaves to the caller.
    private func runPasses(on model: Model, options: PassOptions, clock: inout StageClock,
                           deferVerification: Bool = false) throws -> Bool {
        let pipeline = Pipelines.level(optimizationLevel)
        let context = PassContext(opset: model.defaultOpset, options: options)
        if MCC.leavesModelToExit { context.keepsRemovedObjects = true; MCC.keptUntilExit.append(context) }
        let printAfter = Set(printAfter)
        var manager = PassManager(verifyEach: verifyEach, printAfter: printAfter) { pass, model in
            printToStandardError("; IR after \(pass)\n" + IRPrinter().print(model))
        }
        let nodesBefore = verbose ? model.graph.allNodes().count : 0
        defer { for warning in context.warnings { printWarning(warning) } }
        try clock.measure("passes (\(pipeline.name))") {
            try manager.run(pipeline, on: model, context: context)
        }
        if verbose { printPassTimings(manager.timings, nodesBefore: nodesBefore, nodesAfter: model.graph.allNodes().count) }
        // Passes keep the model valid by contract; one verification guards the output (a compiler bug must not
        // write a broken model). Timed apart: it is not a pass.
        guard !verifyEach && !pipeline.passes.isEmpty else { return false }
        if deferVerification { return true }
        try clock.measure("verify") { try Verifier.verify(model) }
        return false
    }

    /// One line per pass name (a pipeline may run a pass several times), in first-run order.
    private func printPassTimings(_ timings: [PassManager.Timing], nodesBefore: Int, nodesAfter: Int) {
        guard !timings.isEmpty else { return }
        var order: [String] = []
        var totals: [String: (runs: Int, ms: Double, changes: Int)] = [:]
        for timing in timings {
            if totals[timing.pass] == nil { order.append(timing.pass) }
            var entry = totals[timing.pass] ?? (0, 0, 0)
            entry.runs += 1
            entry.ms += timing.milliseconds
            entry.changes += timing.changed ? 1 : 0
            totals[timing.pass] = entry
        }
        for pass in order {
            guard let entry = totals[pass] else { continue }
            printToStandardError("mcc:   pass \(pass): \(String(format: "%.1f", entry.ms)) ms (\(entry.runs) runs, \(entry.changes) changed)\n")
        }
        printToStandardError("mcc:   nodes: \(nodesBefore) -> \(nodesAfter)\n")
    }

    private func defaultOutputName(stem: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date())
        func two(_ v: Int?) -> String { let v = v ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        let stamp = "\(c.year ?? 0)_\(two(c.month))_\(two(c.day))_\(two(c.hour))_\(two(c.minute))_\(two(c.second))"
        return "\(stem)_to_\(target.rawValue)_\(stamp)"
    }
}

/// The model file's name without its extension, as `URL(fileURLWithPath:).deletingPathExtension().lastPathComponent`
/// gives it; the common `dir/name.onnx` is taken apart directly (URL's first use is a visible part of startup).
func modelStem(_ path: String) -> String {
    let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
    if name.hasSuffix(".onnx"), name.utf8.count > 5 {
        let stem = String(name.dropLast(5))
        if !stem.hasPrefix("."), !stem.hasSuffix("."), !stem.utf8.contains(UInt8(ascii: " ")) { return stem }
    }
    return URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
}

/// Times compiler stages and reports them with -v.
struct StageClock {
    let verbose: Bool
    private(set) var timings: [(String, Double)] = []

    init(verbose: Bool) { self.verbose = verbose }

    mutating func measure<R>(_ stage: String, _ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        timings.append((stage, ms))
        if verbose {
            let peak = Self.peakResidentMegabytes().map { String(format: " (peak RSS %.1f MB)", $0) } ?? ""
            printToStandardError("mcc: \(stage): \(String(format: "%.1f", ms)) ms\(peak)\n")
        }
        return result
    }

    /// The process's peak resident set so far (VmHWM), where /proc tells it: the memory budget is per stage.
    static func peakResidentMegabytes() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return kilobytes / 1024
    }
}

/// Static shapes make some If branches dead (e.g. silero_vad's "squeeze if the last dim is 1"), and a dead branch is
/// not valid for the shapes that reach it. Writing inferred types for values inside branches would make onnx's
/// checker and onnxruntime validate those dead branches against the static shapes and reject the model, so only
/// the main graph keeps inferred value_info (branches keep their declared interface; consumers re-infer the rest).
func forgetInferredTypesInsideSubgraphs(_ graph: Graph) {
    func clear(_ sub: Graph) {
        for node in sub.nodes {
            for out in node.outputs where !sub.outputs.contains(where: { $0 === out }) { out.type = nil }
            for inner in node.subgraphs { clear(inner) }
        }
    }
    for node in graph.nodes { for sub in node.subgraphs { clear(sub) } }
}
