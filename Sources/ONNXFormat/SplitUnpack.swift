import COnnx
import CProtobufC
import IR

/// The main graph's nodes and initializers, each unpacked on its own, with the owner that frees it.
struct SeparatelyUnpackedGraph {
    var nodes: [(proto: UnsafeMutablePointer<Onnx__NodeProto>, owner: UnpackedMessage)] = []
    var initializers: [(proto: UnsafeMutablePointer<Onnx__TensorProto>, owner: UnpackedMessage)] = []
}

extension ONNXReader {
    /// ModelProto.graph, GraphProto.node and GraphProto.initializer (onnx.proto).
    private static let modelGraphField = 7
    private static let graphNodeField = 1
    private static let graphInitializerField = 5
    /// Pieces at least this large get an arena; the arena has this much room beyond the piece's own size (the
    /// unpacked structs, dims and names; anything more falls back to malloc).
    private static let arenaThreshold = 1 << 16
    private static let arenaSlack = 1 << 14

    /// Unpacks a mapped model in pieces: each of the main graph's nodes and initializers on its own (the weights
    /// are in those: initializers, or Constant nodes in Paddle exports), releasing the file's pages behind each
    /// piece as soon as protobuf-c has copied it, then the rest of the model (types, metadata: small) at once.
    /// Peak memory is about one copy of the weights instead of two (file pages + unpacked copies), and each weight
    /// is freed on its own when its tensor goes away (e.g. once the FP16 pass has replaced it). protobuf-c does
    /// all decoding; WireFraming only finds where the pieces are. Returns nil when the framing is unusual
    /// (malformed, several graph fields...): then the caller unpacks the whole message, which also reports errors.
    static func unpackSplit(_ bytes: UnsafeRawBufferPointer, label: String) throws -> Unpacked? {
        try checkSize(bytes, label: label)
        guard let top = WireFraming.fields(of: bytes) else { return nil }
        let graphFields = top.filter { $0.number == modelGraphField }
        guard graphFields.count == 1, let graphField = graphFields.first, graphField.wireType == 2 else { return nil }
        let graphBytes = UnsafeRawBufferPointer(rebasing: bytes[graphField.payload])
        guard let inGraph = WireFraming.fields(of: graphBytes) else { return nil }
        func isSplit(_ field: WireField) -> Bool {
            field.number == graphNodeField || field.number == graphInitializerField
        }
        guard inGraph.allSatisfy({ !isSplit($0) || $0.wireType == 2 }) else { return nil }

        var parts = SeparatelyUnpackedGraph()
        for field in inGraph where isSplit(field) {
            let payload = UnsafeRawBufferPointer(rebasing: graphBytes[field.payload])
            // An empty message is valid; protobuf-c still wants a pointer.
            let base = payload.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 64)
            // Large pieces (weights) are unpacked into a pre-faulted arena (mcc_arena.h); the rest into the heap.
            let arena = payload.count >= arenaThreshold ? mcc_arena_create(payload.count + arenaSlack) : nil
            let allocator = arena.map { UnsafeMutablePointer(mutating: $0.pointer(to: \.allocator)!) }
            if field.number == graphNodeField {
                guard let node = onnx__node_proto__unpack(allocator, payload.count, base) else {
                    mcc_arena_destroy(arena)
                    throw parseFailed(label)
                }
                parts.nodes.append((node, UnpackedMessage {
                    onnx__node_proto__free_unpacked(node, allocator)
                    mcc_arena_destroy(arena)
                }))
            } else {
                guard let tensor = onnx__tensor_proto__unpack(allocator, payload.count, base) else {
                    mcc_arena_destroy(arena)
                    throw parseFailed(label)
                }
                parts.initializers.append((tensor, UnpackedMessage {
                    onnx__tensor_proto__free_unpacked(tensor, allocator)
                    mcc_arena_destroy(arena)
                }))
            }
            releasePages(of: payload)
        }

        // The rest: the model's other fields, then the graph without the split fields. Fields keep their relative
        // order, which is all protobuf semantics depend on (repeated fields in order, the last scalar wins).
        var graphRest: [UInt8] = []
        for field in inGraph where !isSplit(field) {
            graphRest.append(contentsOf: UnsafeRawBufferPointer(rebasing: graphBytes[field.field]))
        }
        var rest: [UInt8] = []
        for field in top where field.number != modelGraphField {
            rest.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[field.field]))
        }
        rest.append(UInt8(modelGraphField << 3 | 2))
        var length = UInt64(graphRest.count)
        while length >= 0x80 {
            rest.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        rest.append(UInt8(length))
        rest.append(contentsOf: graphRest)
        var unpacked = try rest.withUnsafeBytes { try unpack($0, label: label) }
        unpacked.parts = parts
        return unpacked
    }
}
