import COnnx
import CProtobufC
import IR

/// Writes IR models as ONNX `ModelProto`s: everything `ONNXReader` reads (names, attributes, subgraphs,
/// functions, metadata, value_info of typed intermediate values), initializers as raw_data. Output is
/// deterministic: the same model always gives the same bytes.
public enum ONNXWriter {
    /// How `write(_:to:options:)` stores weights.
    public struct Options: Sendable {
        /// Whether initializers are stored inline (raw_data) or in a `.data` file beside the model.
        public enum ExternalData: Sendable {
            /// Inline, unless the model would reach protobuf's 2 GiB limit; then external.
            case automatic
            /// Always inline (fails at 2 GiB).
            case never
            /// Initializers of at least `externalThreshold` bytes always go to `<file>.data`.
            case always
        }

        public var externalData: ExternalData
        /// Initializers at least this large move to the external file when external data is used.
        public var externalThreshold: Int

        public init(externalData: ExternalData = .automatic, externalThreshold: Int = 1024) {
            self.externalData = externalData
            self.externalThreshold = externalThreshold
        }
    }

    /// The model as ONNX bytes, all weights inline. Throws if that would reach 2 GiB (use `write(_:to:)`).
    public static func serialize(_ model: Model) throws -> [UInt8] {
        let packed = pack(model, external: nil)
        guard let bytes = packed.bytes else {
            throw MCCError.failure("model would serialize to \(packed.size) bytes, over protobuf's 2 GiB limit; "
                + "write it to a file so its weights go to external data")
        }
        return bytes
    }

    /// Writes the model to `path` atomically (temporary file + rename). With external data the weights go to
    /// `<file name>.data` beside it (e.g. `model.onnx.data`), written first.
    public static func write(_ model: Model, to path: String, options: Options = Options()) throws {
        if options.externalData != .always {
            let packed = pack(model, external: nil)
            if let bytes = packed.bytes {
                try writeAtomically(to: path) { write in try bytes.withUnsafeBytes(write) }
                return
            }
            guard options.externalData == .automatic else {
                throw MCCError.failure("\(path): model would be \(packed.size) bytes, over protobuf's 2 GiB limit; "
                    + "allow external data")
            }
        }
        let location = fileName(of: path) + ".data"
        let plan = ExternalDataPlan(location: location, threshold: options.externalThreshold)
        let packed = pack(model, external: plan)
        guard let bytes = packed.bytes else {
            throw MCCError.failure("\(path): model is \(packed.size) bytes even with its weights in external data")
        }
        try writeExternalData(plan, to: "\(directory(of: path))/\(location)")
        try writeAtomically(to: path) { write in try bytes.withUnsafeBytes(write) }
    }

    /// Builds the C tree, packs it and frees it; nil bytes when the result would reach 2 GiB. Tensor bytes are
    /// borrowed by the tree, not copied, until packing is done.
    private static func pack(_ model: Model, external: ExternalDataPlan?) -> (bytes: [UInt8]?, size: Int) {
        let builder = ProtoBuilder(irVersion: model.irVersion, external: external)
        let proto = builder.model(model)
        defer {
            builder.releaseBorrowedBytes()
            onnx__model_proto__free_unpacked(proto, nil)
        }
        let size = onnx__model_proto__get_packed_size(proto)
        guard size < protobufMessageLimit else { return (nil, size) }
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = buffer.baseAddress.map { onnx__model_proto__pack(proto, $0) } ?? 0
        }
        return (bytes, size)
    }

    private static func writeExternalData(_ plan: ExternalDataPlan, to path: String) throws {
        let padding = [UInt8](repeating: 0, count: 4096)
        try writeAtomically(to: path) { write in
            var position = 0
            for entry in plan.entries {
                try padding.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<(entry.offset - position)])) }
                try write(UnsafeRawBufferPointer(start: entry.storage.baseAddress, count: entry.count))
                position = entry.offset + entry.count
            }
        }
    }
}
