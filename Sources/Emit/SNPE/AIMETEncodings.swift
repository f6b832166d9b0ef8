import Foundation
import IR
import Quant

/// The quantization overrides file for `snpe-onnx-to-dlc --quantization_overrides` / `qairt-converter -q`: AIMET's
/// legacy dict schema, version 0.6.1 (the one ModelConverter writes; docs/vendor-formats.md §1.7).
///
/// `activation_encodings` maps tensor names to a one-element list, `param_encodings` maps weight/constant
/// initializer names to one entry per channel. Numbers follow QNN's convention `float = (q + offset) · scale` with
/// q unsigned in [0, 2^bw − 1]: offset = −zeroPoint, min = offset·scale, max = (2^bw − 1 + offset)·scale. Signed
/// symmetric weights (zero point 0) are written as offset −2^(bw−1). `is_symmetric` is the string "True"/"False".
public struct AIMETEncodings: Codable, Equatable {
    public struct Encoding: Codable, Equatable {
        public var bitwidth: Int
        public var dtype: String
        public var isSymmetric: String
        public var max: Double
        public var min: Double
        public var offset: Int64
        public var scale: Double

        enum CodingKeys: String, CodingKey {
            case bitwidth, dtype, max, min, offset, scale
            case isSymmetric = "is_symmetric"
        }
    }

    public struct QuantizerArgs: Codable, Equatable {
        public var activationBitwidth: Int
        public var dtype: String
        public var isSymmetric: String
        public var paramBitwidth: Int
        public var perChannelQuantization: String
        public var quantScheme: String

        enum CodingKeys: String, CodingKey {
            case dtype
            case activationBitwidth = "activation_bitwidth"
            case isSymmetric = "is_symmetric"
            case paramBitwidth = "param_bitwidth"
            case perChannelQuantization = "per_channel_quantization"
            case quantScheme = "quant_scheme"
        }
    }

    public var version: String
    public var activationEncodings: [String: [Encoding]]
    public var paramEncodings: [String: [Encoding]]
    public var quantizerArgs: QuantizerArgs

    enum CodingKeys: String, CodingKey {
        case version
        case activationEncodings = "activation_encodings"
        case paramEncodings = "param_encodings"
        case quantizerArgs = "quantizer_args"
    }

    /// Entries of one encoding, one per channel.
    public static func entries(_ e: QuantEncoding) -> [Encoding] {
        let bw = e.bits
        let levels = (Int64(1) << bw) - 1
        return e.scales.indices.map { c in
            // Unsigned view: a signed grid shifts by 2^(bw-1).
            let shift: Int64 = e.storage.isSigned ? Int64(1) << (bw - 1) : 0
            let offset = -(e.zeroPoints[c] + shift)
            let scale = Double(e.scales[c])
            return Encoding(bitwidth: bw, dtype: "int", isSymmetric: e.symmetric ? "True" : "False",
                            max: Double(levels + offset) * scale, min: Double(offset) * scale, offset: offset, scale: scale)
        }
    }

    /// Encodings for the float model `model` quantized by `plan` (points as `QuantizationPoints(model:)` finds them).
    public init(model: Model, points: QuantizationPoints, plan: QuantizationPlan, options: QuantizationOptions) {
        version = "0.6.1"
        var activations: [String: [Encoding]] = [:]
        for (i, value) in points.activations.enumerated() {
            activations[value.name] = Self.entries(plan.activationEncodings[i])
        }
        // Data-movement outputs carry their source's encoding.
        var index: [ObjectIdentifier: Int] = [:]
        for (i, v) in points.activations.enumerated() { index[ObjectIdentifier(v)] = i }
        for node in model.graph.nodes {
            for out in node.outputs {
                if let source = points.shared[ObjectIdentifier(out)], let i = index[ObjectIdentifier(source)] {
                    activations[out.name] = Self.entries(plan.activationEncodings[i])
                }
            }
        }
        var params: [String: [Encoding]] = [:]
        for (j, w) in points.weights.enumerated() {
            if let name = w.node.inputs[w.inputIndex]?.name { params[name] = Self.entries(plan.weightEncodings[j]) }
        }
        for (k, c) in points.constants.enumerated() {
            if let name = c.node.inputs[c.inputIndex]?.name { params[name] = Self.entries(plan.constantEncodings[k]) }
        }
        activationEncodings = activations
        paramEncodings = params
        let aBits = plan.activationBits.max() ?? options.activationBits
        let wBits = plan.weightBits.max() ?? options.weightBits
        quantizerArgs = QuantizerArgs(activationBitwidth: aBits, dtype: "int",
                                      isSymmetric: options.symmetricActivations ? "True" : "False", paramBitwidth: wBits,
                                      perChannelQuantization: options.perChannelWeights ? "True" : "False",
                                      quantScheme: "post_training_tf")
    }

    /// Deterministic JSON: sorted keys, two-space indentation.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Checks the structural rules of the schema; returns the problems found (empty when valid). Used by tests and
    /// before writing, so a malformed file never reaches the converter.
    public static func validate(_ data: Data) -> [String] {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return ["not a JSON object"] }
        var problems: [String] = []
        guard let version = root["version"] as? String, ["0.4.0", "0.5.0", "0.6.1"].contains(version) else {
            return ["version must be 0.4.0, 0.5.0 or 0.6.1"]
        }
        for section in ["activation_encodings", "param_encodings"] {
            guard let map = root[section] as? [String: Any] else { problems.append("\(section) must be an object"); continue }
            for (name, value) in map {
                guard let list = value as? [[String: Any]], !list.isEmpty else {
                    problems.append("\(section).\(name) must be a non-empty list of encodings"); continue
                }
                for (k, e) in list.enumerated() {
                    let path = "\(section).\(name)[\(k)]"
                    guard let dtype = e["dtype"] as? String, dtype == "int" || dtype == "float" else {
                        problems.append("\(path).dtype must be \"int\" or \"float\""); continue
                    }
                    guard let bw = e["bitwidth"] as? Int, (4...32).contains(bw) else { problems.append("\(path).bitwidth must be 4...32"); continue }
                    if dtype == "float" { continue }
                    guard let sym = e["is_symmetric"] as? String, sym == "True" || sym == "False" else {
                        problems.append("\(path).is_symmetric must be the string \"True\" or \"False\""); continue
                    }
                    guard let scale = (e["scale"] as? NSNumber)?.doubleValue, scale > 0, scale.isFinite,
                          let offset = (e["offset"] as? NSNumber)?.int64Value,
                          let mn = (e["min"] as? NSNumber)?.doubleValue, let mx = (e["max"] as? NSNumber)?.doubleValue else {
                        problems.append("\(path) needs numeric scale > 0, offset, min and max"); continue
                    }
                    let levels = Double((Int64(1) << bw) - 1)
                    if offset > 0 || Double(-offset) > levels { problems.append("\(path).offset \(offset) outside [-(2^bw-1), 0]") }
                    if abs(mn - Double(offset) * scale) > 1e-6 * max(1, abs(mn)) { problems.append("\(path).min != offset*scale") }
                    if abs(mx - (levels + Double(offset)) * scale) > 1e-6 * max(1, abs(mx)) { problems.append("\(path).max != (2^bw-1+offset)*scale") }
                    if sym == "True" && offset != -(Int64(1) << (bw - 1)) { problems.append("\(path): symmetric encodings need offset -2^(bw-1)") }
                }
            }
        }
        return problems
    }
}
