import COnnx
import CProtobufC
import IR

/// A value as ONNX test data stores it: a tensor, a sequence, or an optional (which may be empty).
public indirect enum ONNXValue: Sendable {
    case tensor(Tensor)
    case sequence([ONNXValue])
    case optional(ONNXValue?)

    public var tensor: Tensor? { if case .tensor(let t) = self { t } else { nil } }
}

/// Reads and writes single serialized `TensorProto`s (`.pb` files, as in ONNX's `test_data_set_0/input_0.pb`)
/// and the `SequenceProto`/`OptionalProto` files of tests whose values are not plain tensors.
public enum TensorProtoIO {
    /// Reads a TensorProto file; the tensor views the unpacked message (no second copy of its bytes).
    public static func readTensor(path: String) throws -> (name: String, tensor: Tensor) {
        let (name, value) = try readValue(path: path, type: nil)
        guard case .tensor(let tensor) = value else { throw MCCError.failure("\(path): not a tensor") }
        return (name, tensor)
    }

    /// Reads a TensorProto from bytes; `label` names it in errors, external data resolves against `baseDirectory`.
    public static func readTensor(bytes: UnsafeRawBufferPointer, label: String,
                                  baseDirectory: String = ".") throws -> (name: String, tensor: Tensor) {
        let (name, value) = try readValue(bytes: bytes, type: nil, label: label, baseDirectory: baseDirectory)
        guard case .tensor(let tensor) = value else { throw MCCError.failure("\(label): not a tensor") }
        return (name, tensor)
    }

    /// Reads a value file. The wire format does not say which message it holds, so `type` (the graph input or
    /// output type) picks it: `.sequence` reads a SequenceProto, `.optional` an OptionalProto, anything else a
    /// TensorProto.
    public static func readValue(path: String, type: ValueType?) throws -> (name: String, value: ONNXValue) {
        let file = try MappedFile(path: path)
        return try readValue(bytes: file.bytes, type: type, label: path, baseDirectory: directory(of: path))
    }

    public static func readValue(bytes: UnsafeRawBufferPointer, type: ValueType?, label: String,
                                 baseDirectory: String = ".") throws -> (name: String, value: ONNXValue) {
        guard bytes.count < protobufMessageLimit else { throw MCCError.failure("\(label): file is 2 GiB or larger") }
        // An empty TensorProto is a valid (if useless) message, so empty input gets a pointer to parse too.
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 64)
        let external = ExternalDataResolver(label: label, baseDirectory: baseDirectory)
        func failed(_ what: String) -> MCCError { MCCError.failure("\(label): not a valid \(what) (protobuf parse failed)") }
        switch type {
        case .sequence?:
            guard let p = onnx__sequence_proto__unpack(nil, bytes.count, base) else { throw failed("SequenceProto") }
            let decoder = TensorDecoder(label: label, owner: UnpackedMessage { onnx__sequence_proto__free_unpacked(p, nil) },
                                        external: external)
            return (string(p.pointee.name), try sequence(p, decoder))
        case .optional?:
            guard let p = onnx__optional_proto__unpack(nil, bytes.count, base) else { throw failed("OptionalProto") }
            let decoder = TensorDecoder(label: label, owner: UnpackedMessage { onnx__optional_proto__free_unpacked(p, nil) },
                                        external: external)
            return (string(p.pointee.name), try optional(p, decoder))
        default:
            guard let p = onnx__tensor_proto__unpack(nil, bytes.count, base) else { throw failed("TensorProto") }
            let decoder = TensorDecoder(label: label, owner: UnpackedMessage { onnx__tensor_proto__free_unpacked(p, nil) },
                                        external: external)
            let name = string(p.pointee.name)
            return (name, .tensor(try decoder.tensor(p, what: "tensor '\(name)'")))
        }
    }

    private static func sequence(_ p: UnsafeMutablePointer<Onnx__SequenceProto>, _ decoder: TensorDecoder) throws -> ONNXValue {
        let s = p.pointee
        let what = "sequence '\(string(s.name))'"
        switch Int(s.elem_type) {
        case Int(ONNX__SEQUENCE_PROTO__DATA_TYPE__TENSOR.rawValue):
            return .sequence(try messages(s.tensor_values, s.n_tensor_values).map { .tensor(try decoder.tensor($0, what: what)) })
        case Int(ONNX__SEQUENCE_PROTO__DATA_TYPE__SEQUENCE.rawValue):
            return .sequence(try messages(s.sequence_values, s.n_sequence_values).map { try sequence($0, decoder) })
        case Int(ONNX__SEQUENCE_PROTO__DATA_TYPE__OPTIONAL.rawValue):
            return .sequence(try messages(s.optional_values, s.n_optional_values).map { try optional($0, decoder) })
        case Int(ONNX__SEQUENCE_PROTO__DATA_TYPE__UNDEFINED.rawValue):
            return .sequence([])
        default:
            throw MCCError.unsupported("\(decoder.label): \(what) holds element type \(s.elem_type), which mcc does not read")
        }
    }

    private static func optional(_ p: UnsafeMutablePointer<Onnx__OptionalProto>, _ decoder: TensorDecoder) throws -> ONNXValue {
        let o = p.pointee
        let what = "optional '\(string(o.name))'"
        switch Int(o.elem_type) {
        case Int(ONNX__OPTIONAL_PROTO__DATA_TYPE__UNDEFINED.rawValue):
            return .optional(nil)
        case Int(ONNX__OPTIONAL_PROTO__DATA_TYPE__TENSOR.rawValue):
            guard let t = o.tensor_value else { return .optional(nil) }
            return .optional(.tensor(try decoder.tensor(t, what: what)))
        case Int(ONNX__OPTIONAL_PROTO__DATA_TYPE__SEQUENCE.rawValue):
            guard let s = o.sequence_value else { return .optional(nil) }
            return .optional(try sequence(s, decoder))
        case Int(ONNX__OPTIONAL_PROTO__DATA_TYPE__OPTIONAL.rawValue):
            guard let inner = o.optional_value else { return .optional(nil) }
            return .optional(try optional(inner, decoder))
        default:
            throw MCCError.unsupported("\(decoder.label): \(what) holds element type \(o.elem_type), which mcc does not read")
        }
    }

    /// `tensor` as a serialized TensorProto (raw_data; strings in string_data).
    public static func serialize(_ tensor: Tensor, name: String = "") -> [UInt8] {
        let builder = ProtoBuilder(irVersion: 0)
        let proto = builder.tensor(tensor, name: name, externalizable: false)
        defer {
            builder.releaseBorrowedBytes()
            onnx__tensor_proto__free_unpacked(proto, nil)
        }
        let size = onnx__tensor_proto__get_packed_size(proto)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = buffer.baseAddress.map { onnx__tensor_proto__pack(proto, $0) } ?? 0
        }
    }

    /// Writes `tensor` as a TensorProto file (atomically).
    public static func write(_ tensor: Tensor, name: String = "", to path: String) throws {
        let bytes = serialize(tensor, name: name)
        try writeAtomically(to: path) { write in try bytes.withUnsafeBytes(write) }
    }
}
