import COnnx
import CProtobufC
import IR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// Pieces at least this large have their raw_data copied into the weight region (smaller ones: protobuf-c).
    private static let regionThreshold = 1 << 16

    /// Unpacks a mapped model in pieces: each of the main graph's nodes and initializers on its own (the weights
    /// are in those: initializers, or Constant nodes in Paddle exports), releasing the file's pages behind each
    /// piece as soon as it is copied, then the rest of the model (types, metadata: small) at once. A large piece's
    /// raw_data is copied by the reader into a huge-page WeightRegion and only the rest goes through protobuf-c
    /// (RawDataStripping.swift).
    /// Peak memory is about one copy of the weights instead of two (file pages + unpacked copies), and each weight
    /// is freed on its own when its tensor goes away (e.g. once the FP16 pass has replaced it). protobuf-c does
    /// all decoding; WireFraming only finds where the pieces are. Returns nil when the framing is unusual
    /// (malformed, several graph fields...): then the caller unpacks the whole message, which also reports errors.
    ///
    /// The weights are copied on a second thread (`Unpacked.pendingWeights`, which `load` joins after lifting the
    /// graph: lifting only needs their addresses). `descriptor` is that of the file `bytes` maps: weights are then
    /// read with pread (page cache → region, without mapping the file's pages at all) rather than copied from the
    /// mapping; `mapping` keeps `bytes` alive for the copying thread.
    static func unpackSplit(_ bytes: UnsafeRawBufferPointer, label: String, descriptor: Int32? = nil,
                            mapping: AnyObject? = nil) throws -> Unpacked? {
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

        // Large pieces whose weight is one raw_data: the weights are copied once, into one huge-page region
        // (WeightRegion), and protobuf-c unpacks only the rest. Sizes are known before anything is copied.
        let pieces = inGraph.filter(isSplit)
        var stripped: [StrippedRawData?] = pieces.map { field in
            guard field.payload.count >= regionThreshold else { return nil }
            let payload = UnsafeRawBufferPointer(rebasing: graphBytes[field.payload])
            return field.number == graphNodeField ? RawDataStripping.node(payload) : RawDataStripping.tensor(payload)
        }
        let sizes = stripped.compactMap { $0?.payload.count }
        let region = sizes.isEmpty ? nil : WeightRegion(byteCount: WeightRegion.byteCount(for: sizes))
        if region == nil { stripped = stripped.map { _ in nil } }

        // Slices are taken in file order (the region's layout does not depend on threads); then the pieces are
        // unpacked, the second half on another thread when there are many (protobuf-c unpacking the nodes was a
        // fifth of a large model's import).
        var copies: [(source: UnsafeRawBufferPointer, destination: UnsafeMutableRawBufferPointer)] = []
        var plans: [PiecePlan] = []
        plans.reserveCapacity(pieces.count)
        for (field, strip) in zip(pieces, stripped) {
            let payload = UnsafeRawBufferPointer(rebasing: graphBytes[field.payload])
            if let strip, let region {
                let raw = UnsafeRawBufferPointer(rebasing: payload[strip.payload])
                guard let slice = region.slice(byteCount: raw.count) else { throw parseFailed(label) }
                copies.append((raw, slice))
                plans.append(PiecePlan(field: field, payload: payload, strip: strip, slice: slice))
            } else {
                plans.append(PiecePlan(field: field, payload: payload, strip: nil, slice: nil))
            }
        }
        let results = UnpackedPieces(count: plans.count)
        let half = plans.count >= parallelUnpackMinimum ? plans.count / 2 : plans.count
        let secondHalf: BackgroundWork? = half < plans.count ? BackgroundWork { [plans] in
            for i in half..<plans.count { results.store(i, unpackPiece(plans[i], region: region)) }
        } : nil
        for i in 0..<half { results.store(i, unpackPiece(plans[i], region: region)) }
        try secondHalf?.wait()
        var parts = SeparatelyUnpackedGraph()
        for piece in results.collect() {
            switch piece {
            case .node(let proto, let owner): parts.nodes.append((proto, owner))
            case .tensor(let proto, let owner): parts.initializers.append((proto, owner))
            case .failed, nil: throw parseFailed(label)
            }
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
        if let region, !copies.isEmpty {
            unpacked.pendingWeights = copyWeights(copies, region: region, from: bytes, descriptor: descriptor, mapping: mapping)
        }
        return unpacked
    }

    /// Copies every weight into its slice on another thread, which owns a duplicate of `descriptor` and keeps the
    /// region and `mapping` alive; each piece's file pages are released once copied.
    private static func copyWeights(_ copies: [(source: UnsafeRawBufferPointer, destination: UnsafeMutableRawBufferPointer)],
                                    region: WeightRegion, from bytes: UnsafeRawBufferPointer, descriptor: Int32?,
                                    mapping: AnyObject?) -> BackgroundWork {
        let duplicate = descriptor.map { dup($0) } ?? -1
        let start = bytes.baseAddress
        // Raw buffers are Sendable only as plain addresses; the region and mapping behind them are held here.
        let jobs = copies.map { (Int(bitPattern: $0.source.baseAddress), $0.source.count,
                                 Int(bitPattern: $0.destination.baseAddress)) }
        let startAddress = Int(bitPattern: start)
        let keepAlive = KeptAlive(objects: [region] + (mapping.map { [$0] } ?? []))
        return BackgroundWork {
            withExtendedLifetime(keepAlive) {
                defer { if duplicate >= 0 { close(duplicate) } }
                for (source, count, destination) in jobs {
                    guard let from = UnsafeRawPointer(bitPattern: source), let to = UnsafeMutableRawPointer(bitPattern: destination)
                    else { continue }
                    copy(UnsafeRawBufferPointer(start: from, count: count),
                         to: UnsafeMutableRawBufferPointer(start: to, count: count),
                         file: duplicate >= 0 ? (duplicate, source - startAddress) : nil)
                    releasePages(of: UnsafeRawBufferPointer(start: from, count: count))
                }
            }
        }
    }

    /// Models with at least this many nodes + initializers unpack them on two threads.
    private static let parallelUnpackMinimum = 256

    /// One node or initializer: its bytes and, for a large piece, the stripped raw_data and its region slice.
    private struct PiecePlan: @unchecked Sendable {
        let field: WireField
        let payload: UnsafeRawBufferPointer
        let strip: StrippedRawData?
        let slice: UnsafeMutableRawBufferPointer?
    }

    /// Unpacks one piece (a stripped piece's raw_data points at its slice, filled later by `copyWeights`) and
    /// releases the file's pages behind it. Safe on any thread: protobuf-c allocates with malloc.
    private static func unpackPiece(_ plan: PiecePlan, region: WeightRegion?) -> UnpackedPiece {
        defer { releasePages(of: plan.payload) }
        if let strip = plan.strip, let slice = plan.slice, let region {
            return unpackStripped(field: plan.field, strip: strip, region: region, slice: slice)
        }
        // An empty message is valid; protobuf-c still wants a pointer.
        let base = plan.payload.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 64)
        if plan.field.number == graphNodeField {
            guard let node = onnx__node_proto__unpack(nil, plan.payload.count, base) else { return .failed }
            return .node(node, UnpackedMessage { onnx__node_proto__free_unpacked(node, nil) })
        }
        guard let tensor = onnx__tensor_proto__unpack(nil, plan.payload.count, base) else { return .failed }
        return .tensor(tensor, UnpackedMessage { onnx__tensor_proto__free_unpacked(tensor, nil) })
    }

    /// Unpacks a piece whose raw_data was stripped and points the unpacked tensor's raw_data at `slice` (filled
    /// later by `copyWeights`); the owner frees the rest and returns the slice's pages.
    private static func unpackStripped(field: WireField, strip: StrippedRawData, region: WeightRegion,
                                       slice: UnsafeMutableRawBufferPointer) -> UnpackedPiece {
        let data = ProtobufCBinaryData(len: slice.count, data: slice.baseAddress?.assumingMemoryBound(to: UInt8.self))
        return strip.rest.withUnsafeBytes { rest -> UnpackedPiece in
            let base = rest.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 64)
            if field.number == graphNodeField {
                guard let node = onnx__node_proto__unpack(nil, rest.count, base) else { return .failed }
                let attributes = messages(node.pointee.attribute, node.pointee.n_attribute)
                guard let index = strip.attributeIndex, index < attributes.count, let t = attributes[index].pointee.t,
                      t.pointee.has_raw_data == 0 else {
                    onnx__node_proto__free_unpacked(node, nil)
                    return .failed
                }
                return .node(node, attach(data, to: t, region: region, slice: slice) {
                    onnx__node_proto__free_unpacked(node, nil)
                })
            }
            guard let t = onnx__tensor_proto__unpack(nil, rest.count, base) else { return .failed }
            return .tensor(t, attach(data, to: t, region: region, slice: slice) {
                onnx__tensor_proto__free_unpacked(t, nil)
            })
        }
    }

    /// Points `tensor`'s raw_data at `data` (the slice) and returns the owner that detaches it again (protobuf-c must
    /// not free memory it did not allocate), runs `free` and returns the slice's pages.
    private static func attach(_ data: ProtobufCBinaryData, to tensor: UnsafeMutablePointer<Onnx__TensorProto>,
                               region: WeightRegion, slice: UnsafeMutableRawBufferPointer,
                               free: @escaping () -> Void) -> UnpackedMessage {
        tensor.pointee.raw_data = data
        tensor.pointee.has_raw_data = 1
        return UnpackedMessage(writableBytes: slice) {
            tensor.pointee.raw_data = ProtobufCBinaryData(len: 0, data: nil)
            tensor.pointee.has_raw_data = 0
            free()
            region.release(slice)
        }
    }

    /// Copies `source` (part of the file mapping) to `destination`: with pread from `file` when given (no page of the
    /// mapping is touched), else (or if pread comes up short) from the mapping.
    private static func copy(_ source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawBufferPointer,
                             file: (descriptor: Int32, offset: Int)?) {
        guard let target = destination.baseAddress, let from = source.baseAddress, source.count > 0 else { return }
        var done = 0
        if let file {
            let offset = file.offset
            while done < source.count {
                let n = pread(file.descriptor, target + done, source.count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                done += n
            }
        }
        if done < source.count { (target + done).copyMemory(from: from + done, byteCount: source.count - done) }
    }
}

/// An unpacked node or initializer with the owner that frees it, or a parse failure.
private enum UnpackedPiece {
    case node(UnsafeMutablePointer<Onnx__NodeProto>, UnpackedMessage)
    case tensor(UnsafeMutablePointer<Onnx__TensorProto>, UnpackedMessage)
    case failed
}

/// Results of unpacking, by piece index; two threads store disjoint indices (joined before `pieces` is read).
private final class UnpackedPieces: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<UnpackedPiece?>
    private let count: Int

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
        self.count = count
    }

    func store(_ index: Int, _ piece: UnpackedPiece) { slots[index] = piece }

    /// Moves the results out (after every store).
    func collect() -> [UnpackedPiece?] { Array(UnsafeBufferPointer(start: slots, count: count)) }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
}

/// Objects a background thread keeps alive without otherwise touching them.
private struct KeptAlive: @unchecked Sendable {
    let objects: [AnyObject]
}
