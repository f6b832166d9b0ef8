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
        /// Whether each file is written to a temporary name and renamed into place. Off for files in a directory
        /// that is itself moved into place only when complete (mcc's staged output directories): the rename and the
        /// temporary inode are then wasted work.
        public var replacesAtomically: Bool

        public init(externalData: ExternalData = .automatic, externalThreshold: Int = 1024, replacesAtomically: Bool = true) {
            self.externalData = externalData
            self.externalThreshold = externalThreshold
            self.replacesAtomically = replacesAtomically
        }
    }

    /// The model as ONNX bytes, all weights inline. Throws if that would reach 2 GiB (use `write(_:to:)`).
    public static func serialize(_ model: Model) throws -> [UInt8] {
        let tree = Tree(model, external: nil)
        guard tree.size < protobufMessageLimit else {
            throw MCCError.failure("model would serialize to \(tree.size) bytes, over protobuf's 2 GiB limit; "
                + "write it to a file so its weights go to external data")
        }
        return tree.pack()
    }

    /// Writes the model to `path` atomically (temporary file + rename). With external data the weights go to
    /// `<file name>.data` beside it (e.g. `model.onnx.data`), written first.
    public static func write(_ model: Model, to path: String, options: Options = Options()) throws {
        try prepare(model, to: path, options: options).write()
    }

    /// Does everything of `write(_:to:options:)` that reads the model (builds the protobuf tree, which borrows the
    /// tensors' bytes and keeps their storage alive); the returned file packs and writes without touching the
    /// model, so `write()` may run on another thread while the model is read elsewhere (not modified).
    public static func prepare(_ model: Model, to path: String, options: Options = Options()) throws -> PreparedModelFile {
        if options.externalData != .always {
            let tree = Tree(model, external: nil)
            if tree.size < protobufMessageLimit {
                return PreparedModelFile(tree: tree, path: path, atomic: options.replacesAtomically)
            }
            guard options.externalData == .automatic else {
                throw MCCError.failure("\(path): model would be \(tree.size) bytes, over protobuf's 2 GiB limit; "
                    + "allow external data")
            }
        }
        let location = fileName(of: path) + ".data"
        let plan = ExternalDataPlan(location: location, threshold: options.externalThreshold)
        let tree = Tree(model, external: plan)
        guard tree.size < protobufMessageLimit else {
            throw MCCError.failure("\(path): model is \(tree.size) bytes even with its weights in external data")
        }
        return PreparedModelFile(tree: tree, path: path, atomic: options.replacesAtomically,
                                 external: (plan, "\(directory(of: path))/\(location)"))
    }

    /// A ModelProto tree built from the IR (tensor bytes borrowed, not copied) and its packed size; freed on deinit.
    final class Tree: @unchecked Sendable {
        let builder: ProtoBuilder
        let proto: UnsafeMutablePointer<Onnx__ModelProto>
        let size: Int

        init(_ model: Model, external: ExternalDataPlan?) {
            builder = ProtoBuilder(irVersion: model.irVersion, external: external)
            proto = builder.model(model)
            size = onnx__model_proto__get_packed_size(proto)
        }

        /// The packed bytes (the size was checked against protobuf's limit).
        func pack() -> [UInt8] {
            [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                count = buffer.baseAddress.map { onnx__model_proto__pack(proto, $0) } ?? 0
            }
        }

        deinit {
            builder.releaseBorrowedBytes()
            onnx__model_proto__free_unpacked(proto, nil)
        }
    }

    fileprivate static func writeExternalData(_ plan: ExternalDataPlan, to path: String, atomic: Bool) throws {
        let padding = [UInt8](repeating: 0, count: 4096)
        // The chunks (the tensors' storage, kept alive by the plan, and `padding`) outlive the call: gathered.
        try writeFile(to: path, atomic: atomic, chunksStayValid: true) { write in
            var position = 0
            for entry in plan.entries {
                try padding.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<(entry.offset - position)])) }
                try write(UnsafeRawBufferPointer(start: entry.storage.baseAddress, count: entry.count))
                position = entry.offset + entry.count
            }
        }
    }
}

/// A model file ready to be written: `write()` packs it and writes it (and its external data) atomically, reading
/// only the tree and the tensor storage it keeps alive, never the model, so it can run on another thread.
public final class PreparedModelFile: @unchecked Sendable {
    private let tree: ONNXWriter.Tree
    private let path: String
    private let atomic: Bool
    private let external: (plan: ExternalDataPlan, path: String)?

    init(tree: ONNXWriter.Tree, path: String, atomic: Bool = true, external: (plan: ExternalDataPlan, path: String)? = nil) {
        self.tree = tree
        self.path = path
        self.atomic = atomic
        self.external = external
    }

    public func write() throws {
        if let external { try ONNXWriter.writeExternalData(external.plan, to: external.path, atomic: atomic) }
        let bytes = tree.pack()
        try writeFile(to: path, atomic: atomic) { write in try bytes.withUnsafeBytes(write) }
    }
}
