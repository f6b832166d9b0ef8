import ArgumentParser
import Foundation
import IR
import ONNXFormat
import Passes

/// `mcc MODEL -target T -O<n> [-o DIR] [--shape NAME=d0,d1,...]`: the compiler proper.
struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
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

    @Flag(name: .shortAndLong, help: "Report each stage and its time.") var verbose = false

    @OptionGroup(title: "rvc2 options") var rvc2: RVC2Options

    func run() throws {
        guard (0...2).contains(optimizationLevel) else {
            throw MCCError.usage("-O\(optimizationLevel): optimization level must be 0, 1 or 2")
        }
        let overrides = try shapes.map(ShapeOverride.init(parsing:))
        guard target == .onnx || target == .rvc2 else {
            throw MCCError.unsupported("target \(target.rawValue) is not available in this version of mcc (available: onnx, rvc2)")
        }
        if target != .rvc2, rvc2.anyGiven {
            throw MCCError.usage("--tool-version, --no-fp16, --shaves, --compile-tool and --superblob apply to -target rvc2 only")
        }
        let rvc2Settings = target == .rvc2 ? try rvc2.validated() : nil
        let stem = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
        let output = try OutputDirectory(path: outputDirectory ?? defaultOutputName(stem: stem))
        var clock = StageClock(verbose: verbose)

        let loaded = try clock.measure("import") { try ONNXReader.load(path: model) }
        let fixed = try ShapeOverride.resolve(overrides, inputs: loaded.graph.inputs.map(\.name))
        try clock.measure("shape inference") {
            let report = try ShapeInference(fixedInputShapes: fixed, opset: loaded.defaultOpset).run(on: loaded)
            for node in loaded.graph.allNodes() {
                if let reason = report.invalidIfBranches[ObjectIdentifier(node)] {
                    printWarning("\(node.label): \(reason); keeping only the other branch")
                }
            }
            InlineStaticIf(conditions: report.staticIfConditions).run(on: loaded)
            forgetInferredTypesInsideSubgraphs(loaded.graph)
            try Verifier.verify(loaded)
        }
        let pipeline = Pipelines.level(optimizationLevel)
        let context = PassContext(opset: loaded.defaultOpset)
        context.options.castToFP16 = target == .rvc2 && !rvc2.noFP16
        var passManager = PassManager()
        _ = try clock.measure("passes -O\(optimizationLevel)") { try passManager.run(pipeline, on: loaded, context: context) }
        for warning in context.warnings { printWarning(warning) }

        var produced: [String]
        if let rvc2Settings {
            let rvc2Target = RVC2Target(
                options: rvc2, toolchain: rvc2Settings.toolchain, shaves: rvc2Settings.shaves,
                optimizationLevel: optimizationLevel,
                pipelineCastsToFP16: pipeline.passes.contains { $0.name.lowercased().contains("fp16") })
            produced = try rvc2Target.build(model: loaded, stem: stem, output: output, clock: &clock)
        } else {
            try clock.measure("export") {
                try ONNXWriter.write(loaded, to: output.stagedPath("\(stem).onnx"))
            }
            produced = ["\(stem).onnx"]
        }
        try output.commit()
        for file in produced { print(output.destination.appendingPathComponent(file).path) }
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
            FileHandle.standardError.write(Data("mcc: \(stage): \(String(format: "%.1f", ms)) ms\n".utf8))
        }
        return result
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
