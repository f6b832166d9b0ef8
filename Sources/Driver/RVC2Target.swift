import ArgumentParser
import Emit
import Foundation
import IR
import ONNXFormat

/// Flags of `-target rvc2` (ModelConverter's `rvc2:` section, modelconverter.md §1.5 / §2.1).
struct RVC2Options: ParsableArguments {
    @Option(name: .customLong("tool-version"),
            help: "rvc2: OpenVINO toolchain the IR is for: 2022.3 (IR v11, default) or 2021.4 (IR v10, opset <= 7).")
    var toolVersion: String = OpenVINOEmitOptions.Toolchain.openvino2022_3.rawValue

    @Flag(name: .customLong("no-fp16"), help: "rvc2: keep FP32 weights in the IR (default: FP16-compressed weights).")
    var noFP16 = false

    @Option(name: .customLong("shaves"), help: "rvc2: SHAVE cores and CMX slices for compile_tool, 1-16 (default 8).")
    var shaves: Int?

    @Option(name: .customLong("compile-tool"),
            help: "rvc2: OpenVINO compile_tool to build the .blob (default: $MCC_COMPILE_TOOL, then compile_tool on PATH).")
    var compileTool: String?

    @Flag(name: .customLong("superblob"),
          help: "rvc2: build a .superblob (8-shave blob + bsdiff patches for 1-16 shaves) instead of a .blob.")
    var superblob = false

    /// The values, without ArgumentParser's wrappers.
    var flags: RVC2Flags {
        RVC2Flags(toolVersion: toolVersion, noFP16: noFP16, shaves: shaves, compileTool: compileTool, superblob: superblob)
    }
}

/// The rvc2 flags as plain values (defaults: none given).
struct RVC2Flags {
    var toolVersion: String = OpenVINOEmitOptions.Toolchain.openvino2022_3.rawValue
    var noFP16 = false
    var shaves: Int?
    var compileTool: String?
    var superblob = false

    /// Checks the values (usage errors, exit 2) before any work.
    func validated() throws -> (toolchain: OpenVINOEmitOptions.Toolchain, shaves: Int) {
        guard let toolchain = OpenVINOEmitOptions.Toolchain(rawValue: toolVersion) else {
            let known = OpenVINOEmitOptions.Toolchain.allCases.map(\.rawValue).joined(separator: ", ")
            throw MCCError.usage("--tool-version \(toolVersion): expected one of \(known)")
        }
        let count = shaves ?? 8
        guard (1...16).contains(count) else { throw MCCError.usage("--shaves \(count): expected 1 to 16") }
        if superblob, let shaves, shaves != 8 {
            printWarning("--superblob: the base blob is always compiled for 8 shaves (--shaves \(shaves) ignored)")
        }
        return (toolchain, superblob ? 8 : count)
    }

    /// True when any rvc2-only flag was given (they are errors with other targets).
    var anyGiven: Bool {
        toolVersion != OpenVINOEmitOptions.Toolchain.openvino2022_3.rawValue || noFP16 || shaves != nil
            || compileTool != nil || superblob
    }
}

/// `-target rvc2`: OpenVINO IR (+ optimized ONNX) → compile_tool → .blob or .superblob, with a buildinfo.json
/// listing the exact commands (paths relative to the output directory, where they ran).
struct RVC2Target {
    let options: RVC2Flags
    let toolchain: OpenVINOEmitOptions.Toolchain
    let shaves: Int
    let optimizationLevel: Int

    /// Whether the -O pipeline already cast weights to FP16 (then the emitter only turns its Casts into
    /// decompression Converts instead of compressing f32 constants itself).
    let pipelineCastsToFP16: Bool

    /// Whether to run the IR verifier (left by the pass pipeline) on the intermediate-ONNX thread before writing.
    var verifiesModel = false

    func build(model: Model, stem: String, output: OutputDirectory, clock: inout StageClock) throws -> [String] {
        let emitOptions = OpenVINOEmitOptions(
            toolchain: toolchain, compressWeightsToFP16: !options.noFP16 && !pipelineCastsToFP16,
            decomposeHardSigmoid: true, modelName: stem, metadata: ["mcc_version": mccVersion])
        // The intermediate ONNX is built, packed and written on a second thread while the IR is emitted and written:
        // both only read the model (nothing modifies it until the writer is joined below). Weights as external data
        // (<stem>.onnx.data) are written straight from the loaded tensors, without packing a second in-memory copy
        // of the model (peak RSS budget: 1.2 × ONNX + 30 MB).
        let onnxPath = try output.stagedPath("intermediate_outputs/\(stem).onnx")
        let shared = ReadOnlyModel(model: model)
        let verify = verifiesModel
        let written = WrittenFile()
        let onnxWrite = BackgroundWork {
            if verify { try Verifier.verify(shared.model) }
            let file = try ONNXWriter.prepare(shared.model, to: onnxPath, options: ONNXWriter.Options(externalData: .always, replacesAtomically: false))
            try file.write()
            // Its protobuf tree is freed by the main thread (or left to the process exit), not on this thread's
            // share of the critical path.
            written.file = file
        }
        let ir = try clock.measure("emit OpenVINO IR") { try OpenVINOEmitter.emit(model, options: emitOptions) }
        let xmlName = "\(stem).xml", binName = "\(stem).bin"
        try clock.measure("write outputs") {
            try output.write(ir.xml, to: xmlName)
            // The weights are views of tensors `ir` keeps alive: gathered into few writes.
            try output.write(to: binName, chunksStayValid: true) { write in try ir.writeWeights(write) }
        }
        // The intermediate ONNX thread is joined as late as possible (before compile_tool runs, else after
        // buildinfo is rendered), so the main thread's remaining work overlaps it.
        var joined = false
        func joinIntermediateONNX(_ clock: inout StageClock) throws {
            guard !joined else { return }
            joined = true
            try clock.measure("intermediate ONNX") { try onnxWrite.wait() }
            if MCC.leavesModelToExit { MCC.keptUntilExit.append(written) }
        }
        var commands: [String: [String]] = ["mcc": ["mcc"] + Invocation.arguments]
        var info: [String: JSONValue] = [
            "mcc_version": .string(mccVersion), "target": .string("rvc2"), "target_devices": .strings(["MYRIAD"]),
            "tool_version": .string(toolchain.rawValue), "ir_version": .int(emitOptions.irVersion),
            "compress_to_fp16": .bool(!options.noFP16), "optimization_level": .int(optimizationLevel),
            "is_superblob": .bool(options.superblob),
            "number_of_shaves": options.superblob ? .ints(Array(1...16)) : .int(shaves),
            "number_of_cmx_slices": options.superblob ? .ints(Array(1...16)) : .int(shaves),
            "ir_layers": .object(ir.layerHistogram.mapValues(JSONValue.int)),
        ]
        var produced = [xmlName, binName]

        if let tool = try CompileTool.locate(explicit: options.compileTool) {
            try joinIntermediateONNX(&clock)
            let compiler = CompileTool(executable: tool, toolchain: toolchain, directory: output.staging)
            if options.superblob {
                let result = try Superblob.build(compiler: compiler, xml: xmlName, stem: stem, output: output, clock: &clock)
                commands.merge(result.commands) { a, _ in a }
                info["compile_tool_version"] = result.toolVersion.map(JSONValue.string)
                info["blob"] = .string(result.file)
                produced.append(result.file)
            } else {
                let blob = "\(stem).blob"
                let run = try clock.measure("compile_tool") {
                    try compiler.compile(xml: xmlName, blob: blob, shaves: shaves,
                                         config: "intermediate_outputs/\(stem).compile_tool.conf")
                }
                commands["compile_tool"] = run.command
                info["compile_tool_version"] = run.version.map(JSONValue.string)
                info["blob"] = .string(blob)
                produced.append(blob)
            }
        } else {
            let suggestion = CompileTool.manualCommand(xml: xmlName, blob: "\(stem).blob", shaves: shaves)
            printNote("compile_tool not found (--compile-tool, $MCC_COMPILE_TOOL, PATH): wrote the OpenVINO IR only; "
                      + "build the blob with: \(suggestion)")
            info["blob"] = .null
        }
        info["cmd_info"] = .object(commands.mapValues(JSONValue.strings))
        let buildInfo = JSONValue.object(info).prettyPrinted() + "\n"
        try joinIntermediateONNX(&clock)
        try output.write(text: buildInfo, to: "buildinfo.json")
        return produced
    }
}

/// The intermediate ONNX file a background thread wrote, handed back to the main thread.
private final class WrittenFile: @unchecked Sendable {
    var file: PreparedModelFile?
}

/// A model handed to another thread while every thread only reads it.
private struct ReadOnlyModel: @unchecked Sendable {
    let model: Model
}

/// The command line mcc was started with (buildinfo.json records it).
enum Invocation {
    nonisolated(unsafe) static var arguments: [String] = Array(CommandLine.arguments.dropFirst())
}

func printNote(_ message: String) {
    printToStandardError("mcc: note: \(message)\n")
}
