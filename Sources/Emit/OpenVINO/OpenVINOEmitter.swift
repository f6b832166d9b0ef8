import Foundation
import IR
import ONNXFormat

/// What the OpenVINO IR must look like for the toolchain that will read it.
public struct OpenVINOEmitOptions: Sendable {
    /// The OpenVINO release whose reader/compiler consumes the IR (openvino-ir.md §0).
    public enum Toolchain: String, Sendable, CaseIterable {
        /// IR v11, ops from opset1...opset10 (ModelConverter's default RVC2 toolchain).
        case openvino2022_3 = "2022.3"
        /// IR v10, ops from opset1...opset7 (the 2021.4 MYRIAD compiler).
        case openvino2021_4 = "2021.4"
    }

    public var toolchain: Toolchain
    /// Store float weights as f16 Consts + decompression Converts (what `mo --compress_to_fp16` wrote).
    public var compressWeightsToFP16: Bool
    /// Rewrite HardSigmoid as Multiply + Add + Clamp: the MYRIAD compiler has no HardSigmoid layer (§6).
    public var decomposeHardSigmoid: Bool
    /// `<net name>`.
    public var modelName: String
    /// Extra model-level `<rt_info>` entries (sorted by key when written).
    public var metadata: [String: String]

    public init(toolchain: Toolchain = .openvino2022_3, compressWeightsToFP16: Bool = true,
                decomposeHardSigmoid: Bool = true, modelName: String = "model", metadata: [String: String] = [:]) {
        self.toolchain = toolchain
        self.compressWeightsToFP16 = compressWeightsToFP16
        self.decomposeHardSigmoid = decomposeHardSigmoid
        self.modelName = modelName
        self.metadata = metadata
    }

    public var irVersion: Int { toolchain == .openvino2021_4 ? 10 : 11 }
    /// Newest opset whose op versions the reader knows.
    public var maxOpset: Int { toolchain == .openvino2021_4 ? 7 : 10 }
}

/// An emitted IR: the two files and a histogram of `Type:opsetN` for reports.
public struct OpenVINOIR: Sendable {
    public var xml: Data
    /// The `.bin`: views of the model's tensors, written by `writeWeights` without building it in memory.
    let weightsFile: WeightsFile
    public var layerHistogram: [String: Int]

    /// The `.bin` contents in memory (copies every weight: prefer `writeWeights`).
    public var weights: Data { weightsFile.data }
    /// Size of the `.bin` in bytes.
    public var weightsByteCount: Int { weightsFile.byteCount }

    /// Hands the `.bin` contents to `write` in order, in chunks (no copy of the weights).
    public func writeWeights(_ write: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try weightsFile.write(write)
    }
}

/// An object whose last reference moves to another thread: callers borrow it through `with`, then `release()`.
private final class Retired<Object: AnyObject>: @unchecked Sendable {
    private var object: Object?
    init(_ object: Object) { self.object = object }

    func with<R>(_ body: (Object) throws -> R) throws -> R {
        guard let object else { throw MCCError.failure("OpenVINO emitter: lowering already released") }
        return try body(object)
    }

    func release() { object = nil }
}

/// ONNX-level IR → OpenVINO IR (`.xml` + `.bin`) as openvino-ir.md describes it.
///
/// Requirements on the model: static shapes on every value (the Driver fixes input dims and infers shapes), and
/// constant shape-like inputs (Reshape targets, Slice bounds, Resize scales...), which -O1's folding provides.
/// Anything else is reported as `MCCError` naming the node; nothing is returned half-built.
public enum OpenVINOEmitter {
    /// Every ONNX op (default domain) this emitter maps.
    public static var supportedOps: [String] { Lowering.table.keys.sorted() }

    public static func emit(_ model: Model, options: OpenVINOEmitOptions) throws -> OpenVINOIR {
        // The lowering's thousands of layers, ports and names are freed on another thread afterwards (a visible
        // share of emission otherwise): only the box holds it, so that thread drops the last reference.
        let box = Retired(Lowering(model: model, options: options))
        let ir = try box.with { lowering in
            try lowering.checkSupport()
            try lowering.run()
            var metadata = options.metadata
            metadata["ir_toolchain"] = options.toolchain.rawValue
            let xml = lowering.builder.xml(netName: options.modelName, irVersion: options.irVersion,
                                           rtInfo: metadata.sorted { $0.key < $1.key })
            var histogram: [String: Int] = [:]
            for layer in lowering.builder.layers { histogram["\(layer.type):\(layer.version)", default: 0] += 1 }
            return OpenVINOIR(xml: xml, weightsFile: lowering.weights, layerHistogram: histogram)
        }
        BackgroundWork.detach { box.release() }
        return ir
    }
}
