import ArgumentParser
import Emit
import Foundation
import IR
import ONNXFormat
import Passes
import Quant

/// Command-line options of the rvc4 target (Qualcomm SNPE/QAIRT).
struct RVC4Options: ParsableArguments {
    @Option(name: .customLong("calib"),
            help: ArgumentHelp("Calibration data: a folder of .jpg/.jpeg/.png/.npy/.raw files (a subfolder per input for multi-input models), or 'random' for seeded random data.", valueName: "dir|random"))
    var calibration: String?

    @Option(name: .customLong("calib-max"), help: "Use at most N calibration samples (the first N by name unless --calib-spread).")
    var calibrationMax: Int?

    @Flag(name: .customLong("calib-spread"), help: "Pick the --calib-max samples spread over the whole sorted folder (seeded by --calib-seed).")
    var calibrationSpread = false

    @Option(name: .customLong("calib-seed"), help: "Seed for --calib-spread and --calib random.")
    var calibrationSeed: UInt64 = 0

    @Option(name: .customLong("calib-resize"), help: "How images are fitted to the input: RESIZE, CROP or PAD (ModelConverter's resize_method).")
    var calibrationResize = "RESIZE"

    @Option(name: .customLong("quantization-mode"),
            help: "INT8_STANDARD, INT8_ACCURACY_FOCUSED, INT8_INT16_MIXED, INT8_INT16_MIXED_ACCURACY_FOCUSED, INT16_STANDARD or FP16_STANDARD.")
    var quantizationMode = "INT8_STANDARD"

    @Option(name: .customLong("htp-socs"), help: "Comma-separated HTP SoCs for snpe-dlc-graph-prepare.")
    var htpSocs = "sm8550"

    @Option(name: .customLong("observer"), help: "Activation range estimator: minmax, percentile, entropy or mse.")
    var observer: String?

    @Option(name: .customLong("target-sqnr"),
            help: "Raise the most sensitive layers to 16 bits until the simulated worst-output SQNR reaches this many dB (0 turns the 16-bit fallback off).")
    var targetSQNR: Double?

    @Flag(name: .customLong("symmetric-activations"), help: "Symmetric activation grids (SNPE's --act_quantizer symmetric); default asymmetric.")
    var symmetricActivations = false

    @Flag(name: .customLong("no-bias-correction"), help: "Keep biases as they are (default: shift them by the mean output change weight rounding causes).")
    var noBiasCorrection = false

    @Flag(name: .customLong("report"), help: "Hold back some calibration samples and write report.json/.txt/.html: simulated accuracy per output and layer.")
    var report = false

    @Option(name: .customLong("holdout"), help: "Calibration samples held back for --report (default: one in eight).")
    var holdout: Int?
}

/// The rvc4 target: writes the SNPE-ready float ONNX, the QDQ ONNX and AIMET encodings from mcc's quantizer, the
/// calibration input list, and runs the SNPE tools when they are installed.
struct RVC4Target {
    let options: RVC4Options
    let verbose: Bool
    /// -O level the model was compiled at (quantizing an unfolded graph gives every BatchNorm/activation its own
    /// encodings, which the HTP would fuse away).
    var optimizationLevel = 2

    /// Quantizer settings from the command line.
    func configuration(mode: RVC4QuantizationMode) throws -> QuantizerConfiguration {
        var configuration = QuantizerConfiguration()
        mode.configure(&configuration.options)
        if let name = options.observer {
            guard let kind = ObserverKind(rawValue: name.lowercased()) else {
                throw MCCError.usage("--observer \(name): expected one of \(ObserverKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            configuration.options.observer = kind
        }
        configuration.options.biasCorrection = !options.noBiasCorrection
        configuration.options.symmetricActivations = options.symmetricActivations
        if let target = options.targetSQNR {
            guard target.isFinite, target >= 0 else { throw MCCError.usage("--target-sqnr must be a non-negative number of dB") }
            configuration.mixedPrecision.enabled = target > 0
            configuration.mixedPrecision.targetSQNR = target
        }
        // Everything is 16-bit already in the 16-bit presets.
        if configuration.options.activationBits > 8 { configuration.mixedPrecision.enabled = false }
        if let holdout = options.holdout {
            guard holdout >= 0 else { throw MCCError.usage("--holdout must be at least 0") }
            configuration.holdout = holdout
        }
        configuration.holdout = options.report ? configuration.holdout : 0
        configuration.report = options.report
        return configuration
    }

    /// Calibration description of each graph input.
    func calibrationInputs(_ model: Model, passOptions: PassOptions) throws -> [CalibrationInput] {
        guard let resize = ResizeMethod(name: options.calibrationResize) else {
            throw MCCError.usage("--calib-resize \(options.calibrationResize): expected RESIZE, CROP or PAD")
        }
        return try model.graph.inputs.map { input in
            guard let type = input.elementType, let dims = input.shape?.staticSizes else {
                throw MCCError.usage("input '\(input.name)' has dynamic shape \(input.shape?.description ?? "?"); fix it with --shape \(input.name)=...")
            }
            let normalization = passOptions.normalization[input.name]
            let channels = dims.count == 4 ? min(dims[1], dims[3]) : 0
            let encoding: ColorEncoding
            if let to = normalization?.encodingTo ?? normalization?.encodingFrom, let e = ColorEncoding(name: to) {
                encoding = e
            } else {
                // Without --encoding the graph keeps the model's own colour order, which mcc cannot know; RGB is
                // the common one (ModelConverter also assumes RGB-trained models).
                encoding = channels == 1 ? .gray : (channels == 3 ? .rgb : .none)
            }
            return CalibrationInput(name: input.name, shape: dims, elementType: type, layout: passOptions.inputLayouts[input.name],
                                    encoding: encoding, resize: resize)
        }
    }

    /// Writes the outputs into `output`; returns the main files written (relative paths) for the command's summary.
    func emit(_ model: Model, stem: String, output: OutputDirectory, passOptions: PassOptions) throws -> [String] {
        var produced: [String] = []
        guard let mode = RVC4QuantizationMode(name: options.quantizationMode) else {
            throw MCCError.usage("--quantization-mode \(options.quantizationMode): expected one of \(RVC4QuantizationMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let socs = options.htpSocs.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !socs.isEmpty else { throw MCCError.usage("--htp-socs needs at least one SoC (e.g. sm8550)") }
        let inputs = try calibrationInputs(model, passOptions: passOptions)
        for input in inputs where input.shape.first != 1 && input.shape.count >= 2 {
            throw MCCError.usage("input '\(input.name)' has batch \(input.shape[0]); SNPE quantization needs batch 1 (--shape \(input.name)=1,...)")
        }
        if model.defaultOpset > 22 {
            printWarning("opset \(model.defaultOpset) is above what QAIRT documents (22); snpe-onnx-to-dlc may reject the model")
        }
        // Weights held in Constant nodes become initializers, so they are quantized as weights.
        ConstantNodeLifting.run(on: model)
        let floatName = "\(stem).onnx"
        try ONNXWriter.write(model, to: output.stagedPath(floatName))
        produced.append(floatName)

        var encodingsName: String?
        var inputListName: String?
        if mode.isQuantized && optimizationLevel < 2 {
            printWarning("quantizing at -O\(optimizationLevel): BatchNorm and activation patterns are not folded and get encodings of their own; -O2 quantizes the folded graph as the HTP runs it")
        }
        if mode.isQuantized {
            let dataset = try calibrationDataset(inputs)
            let configuration = try configuration(mode: mode)
            let progress = ProgressBar()
            let quantizer = Quantizer(model: model, configuration: configuration)
            let result = try quantizer.run(dataset) { stage, done, total in progress.update(stage, done, total) }
            progress.finish()
            if verbose {
                for (stage, ms) in result.timings {
                    printToStandardError("mcc: \(stage): \(String(format: "%.1f", ms)) ms\n")
                }
            }
            if let summary = result.mixedPrecision {
                if verbose {
                    printToStandardError("mcc: 16-bit search: \(summary.evaluations) evaluations on \(summary.probeSamples) probe samples\n")
                }
                let promoted = summary.promotedActivations.count + summary.promotedWeights.count
                if promoted > 0 {
                    printWarning("16-bit fallback for \(summary.promotedActivations.count) activations and \(summary.promotedWeights.count) weights to reach \(String(format: "%.1f", configuration.mixedPrecision.targetSQNR)) dB (simulated worst output \(String(format: "%.1f", summary.probeSQNRBefore)) → \(String(format: "%.1f", summary.probeSQNRAfter)) dB): \((summary.promotedActivations + summary.promotedWeights).prefix(8).joined(separator: ", "))\(promoted > 8 ? ", ..." : "")")
                }
            }
            try ONNXWriter.write(try result.qdqModel(), to: output.stagedPath("\(stem).qdq.onnx"))
            produced.append("\(stem).qdq.onnx")
            let encodings = AIMETEncodings(model: model, points: result.points, plan: result.plan, options: configuration.options)
            let json = try encodings.json()
            let problems = AIMETEncodings.validate(json)
            guard problems.isEmpty else { throw MCCError.failure("internal: invalid encodings (\(problems.prefix(3).joined(separator: "; ")))") }
            encodingsName = "\(stem).encodings.json"
            try output.write(json, to: encodingsName!)
            inputListName = "input_list.txt"
            try writeInputList(dataset: dataset, samples: result.calibrationSamples, output: output, listName: inputListName!)
            produced += [encodingsName!, inputListName!]
            if let report = result.report {
                try output.write(try report.json(), to: "report.json")
                try output.write(text: report.table(), to: "report.txt")
                try output.write(text: report.html(), to: "report.html")
                printToStandardError(report.table(maxLayers: 0))
                produced.append("report.html")
            }
        }

        let commands = snpeCommands(model: model, inputs: inputs, mode: mode, socs: socs, root: output.destinationPath,
                                    floatName: floatName, encodingsName: encodingsName, inputListName: inputListName, stem: stem)
        let script = "#!/bin/sh\n# SNPE/QAIRT commands for this model (ModelConverter's RVC4 sequence).\nset -e\ncd \"$(dirname \"$0\")\"\n"
            + commands.all.map(\.shellLine).joined(separator: "\n") + "\n"
        try output.write(text: script, to: "snpe_commands.sh")
        if try runSNPETools(commands, output: output, inputListName: inputListName) {
            produced.append("\(stem).dlc")
        } else {
            produced.append("snpe_commands.sh")
        }
        return produced
    }

    func calibrationDataset(_ inputs: [CalibrationInput]) throws -> CalibrationDataset {
        guard let calibration = options.calibration else {
            throw MCCError.usage("rvc4 quantization needs calibration data: --calib DIR (images, .npy or .raw), or --calib random to use seeded random data knowingly; --quantization-mode FP16_STANDARD needs none")
        }
        if let n = options.calibrationMax, n < 1 { throw MCCError.usage("--calib-max must be at least 1") }
        if calibration.lowercased() == "random" {
            let count = options.calibrationMax ?? 20
            printWarning("CALIBRATING ON RANDOM DATA (--calib random, \(count) samples, seed \(options.calibrationSeed)): encodings will not match real inputs; expect poor accuracy on device")
            return try CalibrationDataset(source: .random(count: count, seed: options.calibrationSeed), inputs: inputs)
        }
        let selection = CalibrationSelection(maxCount: options.calibrationMax, spread: options.calibrationSpread, seed: options.calibrationSeed)
        return try CalibrationDataset(source: .directory(calibration), inputs: inputs, selection: selection)
    }

    /// input_list.txt (absolute paths at the final destination) and the NHWC float32 raw files.
    func writeInputList(dataset: CalibrationDataset, samples labels: [String], output: OutputDirectory, listName: String) throws {
        let writer = CalibrationRawWriter(inputs: dataset.inputs.map { ($0.name, $0.shape.count == 4 && $0.resolvedLayout == "NCHW") })
        let indices = labels.compactMap { label in dataset.samples.firstIndex { $0.label == label } }
        for (k, index) in indices.enumerated() {
            let tensors = try dataset.load(index)
            for (i, tensor) in tensors.enumerated() {
                let bytes = try writer.rawBytes(tensor, transpose: writer.inputs[i].transposeToNHWC)
                try output.write(Data(bytes), to: writer.relativePath(sample: k, input: i))
            }
        }
        try output.write(text: writer.inputList(sampleCount: indices.count, root: output.destinationPath), to: listName)
    }

    func snpeCommands(model: Model, inputs: [CalibrationInput], mode: RVC4QuantizationMode, socs: [String], root: String,
                      floatName: String, encodingsName: String?, inputListName: String?, stem: String) -> SNPECommands {
        SNPECommands(
            onnx: "\(root)/\(floatName)",
            inputs: inputs.map { SNPECommands.Input(name: $0.name, dims: $0.shape, layout: $0.resolvedLayout) },
            outputs: model.graph.outputs.map(\.name), mode: mode,
            encodings: encodingsName.map { "\(root)/\($0)" }, inputList: inputListName.map { "\(root)/\($0)" },
            htpSocs: socs, floatDLC: "\(root)/snpe/\(stem).dlc", quantizedDLC: "\(root)/snpe/\(stem)_quantized.dlc",
            preparedDLC: "\(root)/\(stem).dlc")
    }

    /// Runs the SNPE tools inside the staging directory when all are on PATH (returns true); otherwise says so and
    /// keeps their inputs (returns false).
    func runSNPETools(_ commands: SNPECommands, output: OutputDirectory, inputListName: String?) throws -> Bool {
        let tools = commands.all.map(\.executable)
        let missing = tools.filter { findExecutable($0) == nil }
        guard missing.isEmpty else {
            printNote("SNPE tools not on PATH (\(missing.joined(separator: ", "))): wrote their inputs and snpe_commands.sh; run that script where the QAIRT SDK is installed")
            return false
        }
        // The tools run before the output is committed: point every path at the staging directory.
        let root = output.destinationPath, staged = output.stagingPath
        try FileManager.default.createDirectory(atPath: staged + "/snpe", withIntermediateDirectories: true)
        if let inputListName {
            let list = try String(contentsOfFile: staged + "/" + inputListName, encoding: .utf8)
            try list.replacingOccurrences(of: root + "/", with: staged + "/").write(toFile: staged + "/snpe/input_list.staged.txt", atomically: true, encoding: .utf8)
        }
        for invocation in commands.all {
            let arguments = invocation.arguments.map { arg -> String in
                if let inputListName, arg == root + "/" + inputListName { return staged + "/snpe/input_list.staged.txt" }
                return arg.hasPrefix(root + "/") ? staged + arg.dropFirst(root.count) : arg
            }
            guard let path = findExecutable(invocation.executable) else { continue }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.currentDirectoryURL = output.staging
            let log = try output.stagedPath("snpe/\(invocation.executable).log")
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
            do { try process.run() } catch {
                throw MCCError.failure("cannot run \(invocation.executable): \(error.localizedDescription)")
            }
            process.waitUntilExit()
            try? handle.close()
            guard process.terminationStatus == 0 else {
                throw MCCError.failure("\(invocation.executable) failed with status \(process.terminationStatus); see its log (snpe/\(invocation.executable).log)")
            }
        }
        try? FileManager.default.removeItem(atPath: staged + "/snpe/input_list.staged.txt")
        return true
    }
}

/// The first executable named `name` on PATH.
func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for dir in path.split(separator: ":") where !dir.isEmpty {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    let enabled = isatty(STDERR_FILENO) != 0
    private var drawn = false

    func update(_ stage: String, _ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        printToStandardError("\r\u{1B}[Kmcc: \(stage) [\(bar)] \(done)/\(total)")
        drawn = true
    }

    func finish() {
        if drawn { printToStandardError("\r\u{1B}[K") }
        drawn = false
    }
}
