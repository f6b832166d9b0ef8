import Quant

/// ModelConverter's `rvc4.quantization_mode` presets (docs/modelconverter.md §1.5, vendor-formats.md §1.1): the
/// flags each adds to `snpe-dlc-quant`, and the matching settings of mcc's own quantizer.
public enum RVC4QuantizationMode: String, CaseIterable, Sendable {
    case int8Standard = "INT8_STANDARD"
    case int8AccuracyFocused = "INT8_ACCURACY_FOCUSED"
    case int8Int16Mixed = "INT8_INT16_MIXED"
    case int8Int16MixedAccuracyFocused = "INT8_INT16_MIXED_ACCURACY_FOCUSED"
    case int16Standard = "INT16_STANDARD"
    case fp16Standard = "FP16_STANDARD"

    public init?(name: String) { self.init(rawValue: name.uppercased()) }

    /// False for FP16_STANDARD: no calibration, no encodings.
    public var isQuantized: Bool { self != .fp16Standard }

    /// `snpe-dlc-quant` flags of the preset (besides input/output and per-channel).
    public var quantizerFlags: [String] {
        switch self {
        case .int8Standard, .fp16Standard: []
        case .int8AccuracyFocused: ["--param_quantizer", "enhanced", "--act_quantizer", "enhanced"]
        case .int8Int16Mixed: ["--act_bitwidth", "16"]
        case .int8Int16MixedAccuracyFocused: ["--param_quantizer", "enhanced", "--act_quantizer", "enhanced", "--act_bitwidth", "16"]
        case .int16Standard: ["--weights_bitwidth", "16", "--act_bitwidth", "16"]
        }
    }

    /// Per-channel weights (ModelConverter turns them off for INT16_STANDARD).
    public var perChannel: Bool { self != .int16Standard }

    /// mcc quantizer settings for the preset: bitwidths as SNPE uses them; the "accuracy focused" presets (SNPE's
    /// enhanced quantizer, which trims long tails) use MSE-optimal ranges for weights too.
    public func configure(_ options: inout QuantizationOptions) {
        switch self {
        case .int8Standard, .fp16Standard:
            break
        case .int8AccuracyFocused:
            options.weightMethod = .mse
        case .int8Int16Mixed:
            options.activationBits = 16
        case .int8Int16MixedAccuracyFocused:
            options.activationBits = 16
            options.weightMethod = .mse
        case .int16Standard:
            options.activationBits = 16
            options.weightBits = 16
            options.perChannelWeights = false
        }
    }
}

/// One external tool invocation.
public struct ToolInvocation: Equatable, Sendable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }

    /// The command as a shell line (arguments quoted when needed).
    public var shellLine: String {
        ([executable] + arguments).map { arg in
            arg.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:=,".contains($0) }) && !arg.isEmpty ? arg : "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}

/// The SNPE command sequence ModelConverter runs for RVC4 (vendor-formats.md §1.1), with mcc's encodings passed
/// as quantization overrides: convert (`snpe-onnx-to-dlc`), quantize (`snpe-dlc-quant`), prepare for the HTP
/// (`snpe-dlc-graph-prepare`).
public struct SNPECommands: Sendable {
    public struct Input: Sendable {
        public var name: String
        public var dims: [Int]
        /// `--input_layout` value (NCHW, NHWC, NFC, ...), nil to omit.
        public var layout: String?

        public init(name: String, dims: [Int], layout: String?) {
            self.name = name
            self.dims = dims
            self.layout = layout
        }
    }

    public var onnx: String
    public var inputs: [Input]
    public var outputs: [String]
    public var mode: RVC4QuantizationMode
    public var encodings: String?
    public var inputList: String?
    public var htpSocs: [String]
    public var optimizationLevel: Int
    public var floatDLC: String
    public var quantizedDLC: String
    public var preparedDLC: String

    public init(onnx: String, inputs: [Input], outputs: [String], mode: RVC4QuantizationMode, encodings: String?,
                inputList: String?, htpSocs: [String], optimizationLevel: Int = 2, floatDLC: String, quantizedDLC: String,
                preparedDLC: String) {
        self.onnx = onnx
        self.inputs = inputs
        self.outputs = outputs
        self.mode = mode
        self.encodings = encodings
        self.inputList = inputList
        self.htpSocs = htpSocs
        self.optimizationLevel = optimizationLevel
        self.floatDLC = floatDLC
        self.quantizedDLC = quantizedDLC
        self.preparedDLC = preparedDLC
    }

    /// Layouts `snpe-onnx-to-dlc --input_layout` accepts.
    public static let converterLayouts: Set<String> = ["NCDHW", "NDHWC", "NCHW", "NHWC", "NFC", "NCF", "NTF", "TNF", "NF", "NC", "F", "NONTRIVIAL"]

    public var convert: ToolInvocation {
        var args = ["-i", onnx, "-o", floatDLC]
        for input in inputs {
            args += ["--input_dim", input.name, input.dims.map(String.init).joined(separator: ",")]
            args += ["--input_dtype", input.name, "float32"]
        }
        for output in outputs { args += ["--out_name", output] }
        for input in inputs {
            if let layout = input.layout, Self.converterLayouts.contains(layout) { args += ["--input_layout", input.name, layout] }
        }
        if mode == .fp16Standard {
            args += ["--float_bitwidth", "16"]
        } else if let encodings {
            args += ["--quantization_overrides", encodings]
        }
        return ToolInvocation(executable: "snpe-onnx-to-dlc", arguments: args)
    }

    /// nil for FP16_STANDARD (no quantization step).
    public var quantize: ToolInvocation? {
        guard mode.isQuantized else { return nil }
        var args = ["--input_dlc", floatDLC, "--output_dlc", quantizedDLC]
        if let inputList { args += ["--input_list", inputList] }
        if mode.perChannel { args.append("--use_per_channel_quantization") }
        args += mode.quantizerFlags
        if encodings != nil { args.append("--override_params") }
        return ToolInvocation(executable: "snpe-dlc-quant", arguments: args)
    }

    public var prepare: ToolInvocation {
        var args = ["--input_dlc", mode.isQuantized ? quantizedDLC : floatDLC, "--output_dlc", preparedDLC,
                    "--set_output_tensors", outputs.joined(separator: ","),
                    "--optimization_level", String(optimizationLevel), "--htp_socs", htpSocs.joined(separator: ",")]
        if mode == .fp16Standard { args.append("--use_float_io") }
        return ToolInvocation(executable: "snpe-dlc-graph-prepare", arguments: args)
    }

    public var all: [ToolInvocation] { [convert] + (quantize.map { [$0] } ?? []) + [prepare] }
}
