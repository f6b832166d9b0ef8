/// Protobuf wire-format framing: where each top-level field of a serialized message starts and ends, without
/// decoding any field. Decoding stays with protobuf-c; this only lets the reader hand protobuf-c one initializer
/// at a time (so the file's pages can be released as soon as each is unpacked) instead of the whole model at once.
struct WireField {
    /// Field number.
    let number: Int
    /// Wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
    let wireType: Int
    /// The whole field: tag, length prefix and payload.
    let field: Range<Int>
    /// The payload (for wire type 2, the bytes after the length prefix).
    let payload: Range<Int>
}

enum WireFraming {
    /// The top-level fields of the message in `bytes`, in file order; nil when the framing is malformed (bad
    /// varint, length past the end, groups, field number 0), in which case callers let protobuf-c parse the whole
    /// message and report the error.
    static func fields(of bytes: UnsafeRawBufferPointer) -> [WireField]? {
        var fields: [WireField] = []
        var position = 0
        while position < bytes.count {
            let start = position
            guard let tag = varint(bytes, &position), tag >> 3 > 0, tag >> 3 <= UInt64(Int32.max) else { return nil }
            let wireType = Int(tag & 7)
            let payloadStart: Int
            switch wireType {
            case 0:
                payloadStart = position
                guard varint(bytes, &position) != nil else { return nil }
            case 1, 5:
                payloadStart = position
                let width = wireType == 1 ? 8 : 4
                guard bytes.count - position >= width else { return nil }
                position += width
            case 2:
                guard let length = varint(bytes, &position), length <= UInt64(bytes.count - position) else { return nil }
                payloadStart = position
                position += Int(length)
            default:
                return nil  // groups (3, 4) are not used by ONNX; 6 and 7 are invalid
            }
            fields.append(WireField(number: Int(tag >> 3), wireType: wireType, field: start..<position,
                                    payload: payloadStart..<position))
        }
        return fields
    }

    /// Reads a base-128 varint at `position` (advancing it); nil when truncated or longer than 10 bytes.
    private static func varint(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count, shift < 64 {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }
}
