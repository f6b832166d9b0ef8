/// Finds the one large `raw_data` inside a serialized initializer (TensorProto) or Constant-like node
/// (NodeProto → AttributeProto.t → TensorProto) and re-frames the message without it, so protobuf-c unpacks only
/// the small rest and the weight bytes are copied once, by the reader, straight into their final (huge-page,
/// aligned) home instead of being copied by protobuf-c into fresh 4 KiB pages. Decoding stays with protobuf-c;
/// the reader puts the bytes back into the unpacked tensor's raw_data field.
struct StrippedRawData {
    /// The message without the raw_data field (enclosing fields re-framed with their new lengths).
    let rest: [UInt8]
    /// Where the raw_data payload lies in the original message.
    let payload: Range<Int>
    /// For a node: the index of the attribute (among the node's attributes, in order) whose `t` held the data.
    let attributeIndex: Int?
}

enum RawDataStripping {
    /// TensorProto.raw_data, NodeProto.attribute, AttributeProto.t (onnx.proto).
    static let tensorRawDataField = 9
    static let nodeAttributeField = 5
    static let attributeTensorField = 5

    /// A serialized TensorProto without its raw_data; nil unless it has exactly one, length-delimited.
    static func tensor(_ bytes: UnsafeRawBufferPointer) -> StrippedRawData? {
        guard let (rest, payload) = removing(field: tensorRawDataField, from: bytes) else { return nil }
        return StrippedRawData(rest: rest, payload: payload, attributeIndex: nil)
    }

    /// A serialized NodeProto without the raw_data of the first attribute whose `t` (exactly one) has exactly one
    /// raw_data; nil when no attribute has one or the framing is unusual.
    static func node(_ bytes: UnsafeRawBufferPointer) -> StrippedRawData? {
        guard let fields = WireFraming.fields(of: bytes) else { return nil }
        var attributeIndex = 0
        for (i, field) in fields.enumerated() where field.number == nodeAttributeField {
            defer { attributeIndex += 1 }
            guard field.wireType == 2 else { return nil }
            let attribute = UnsafeRawBufferPointer(rebasing: bytes[field.payload])
            guard let attributeFields = WireFraming.fields(of: attribute) else { return nil }
            let tensors = attributeFields.filter { $0.number == attributeTensorField }
            guard tensors.count == 1, let t = tensors.first, t.wireType == 2 else { continue }
            let tensorBytes = UnsafeRawBufferPointer(rebasing: attribute[t.payload])
            guard let (tensorRest, rawPayload) = removing(field: tensorRawDataField, from: tensorBytes) else { continue }
            // Re-frame: attribute = its other fields + t with the new length; node = its other fields in order.
            var attributeRest: [UInt8] = []
            for f in attributeFields {
                if f.number == attributeTensorField {
                    appendLengthDelimited(field: attributeTensorField, payload: tensorRest, to: &attributeRest)
                } else {
                    attributeRest.append(contentsOf: UnsafeRawBufferPointer(rebasing: attribute[f.field]))
                }
            }
            var rest: [UInt8] = []
            rest.reserveCapacity(bytes.count - rawPayload.count + 32)
            for (j, f) in fields.enumerated() {
                if j == i {
                    appendLengthDelimited(field: nodeAttributeField, payload: attributeRest, to: &rest)
                } else {
                    rest.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[f.field]))
                }
            }
            let start = field.payload.lowerBound + t.payload.lowerBound + rawPayload.lowerBound
            return StrippedRawData(rest: rest, payload: start..<(start + rawPayload.count), attributeIndex: attributeIndex)
        }
        return nil
    }

    /// The message without its one length-delimited field `number` (nil when there is not exactly one such field,
    /// or it is not length-delimited), and that field's payload range.
    private static func removing(field number: Int, from bytes: UnsafeRawBufferPointer) -> ([UInt8], Range<Int>)? {
        guard let fields = WireFraming.fields(of: bytes) else { return nil }
        let matches = fields.filter { $0.number == number }
        guard matches.count == 1, let match = matches.first, match.wireType == 2 else { return nil }
        var rest: [UInt8] = []
        rest.reserveCapacity(bytes.count - match.payload.count)
        for f in fields where f.number != number {
            rest.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[f.field]))
        }
        return (rest, match.payload)
    }

    /// Appends tag + length + payload of a length-delimited field.
    static func appendLengthDelimited(field: Int, payload: [UInt8], to out: inout [UInt8]) {
        appendVarint(UInt64(field << 3 | 2), to: &out)
        appendVarint(UInt64(payload.count), to: &out)
        out.append(contentsOf: payload)
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}
