import Foundation
import IR
import ONNXFormat
import XCTest

/// TensorProto files: write/read round trips, and every typed data field as ONNX defines its packing.
final class TensorProtoIOTests: XCTestCase {
    private func decode(_ build: (inout ProtoEncoder) -> Void) throws -> Tensor {
        var e = ProtoEncoder()
        build(&e)
        return try e.bytes.withUnsafeBytes { try TensorProtoIO.readTensor(bytes: $0, label: "t.pb").tensor }
    }

    func testWriteReadRoundTrip() throws {
        let directory = try makeTemporaryDirectory(self)
        let tensor = Tensor(floats: [1, -2, 3.5, 4, 5, 6], shape: [2, 3])
        try TensorProtoIO.write(tensor, name: "input_0", to: "\(directory)/t.pb")
        let (name, read) = try TensorProtoIO.readTensor(path: "\(directory)/t.pb")
        XCTAssertEqual(name, "input_0")
        XCTAssertEqual(read.shape, [2, 3])
        XCTAssertEqual(read.scalars(as: Float.self), [1, -2, 3.5, 4, 5, 6])
        XCTAssertFalse(read.storage.isWritable, "raw_data should be a view into the unpacked message")

        let strings = Tensor(elementType: .string, shape: [2], storage: TensorStorage(zeroed: 0),
                             strings: [Array("ab".utf8), []])
        let back = try TensorProtoIO.serialize(strings).withUnsafeBytes { try TensorProtoIO.readTensor(bytes: $0, label: "s") }
        XCTAssertEqual(back.tensor.strings, [Array("ab".utf8), []])
    }

    func testTypedFloatAndIntegerFields() throws {
        let f = try decode { e in
            e.packed(TensorField.dims, [3]); e.int(TensorField.dataType, 1); e.packedFloats(TensorField.floatData, [1, 2, 3])
        }
        XCTAssertEqual(f.scalars(as: Float.self), [1, 2, 3])
        let i64 = try decode { e in
            e.packed(TensorField.dims, [2]); e.int(TensorField.dataType, 7); e.packed(TensorField.int64Data, [-5, 1 << 40])
        }
        XCTAssertEqual(i64.scalars(as: Int64.self), [-5, 1 << 40])
        let i8 = try decode { e in
            e.packed(TensorField.dims, [3]); e.int(TensorField.dataType, 3); e.packed(TensorField.int32Data, [-1, 127, -128])
        }
        XCTAssertEqual(i8.scalars(as: Int8.self), [-1, 127, -128])
        let u16 = try decode { e in
            e.packed(TensorField.dims, [2]); e.int(TensorField.dataType, 4); e.packed(TensorField.int32Data, [65535, 1])
        }
        XCTAssertEqual(u16.scalars(as: UInt16.self), [65535, 1])
        let b = try decode { e in
            e.packed(TensorField.dims, [3]); e.int(TensorField.dataType, 9); e.packed(TensorField.int32Data, [1, 0, 1])
        }
        XCTAssertEqual(b.scalars(as: UInt8.self), [1, 0, 1])
        let u32 = try decode { e in
            e.packed(TensorField.dims, [2]); e.int(TensorField.dataType, 12); e.packed(TensorField.uint64Data, [7, 4_000_000_000])
        }
        XCTAssertEqual(u32.scalars(as: UInt32.self), [7, 4_000_000_000])
        let d = try decode { e in
            e.packed(TensorField.dims, [1]); e.int(TensorField.dataType, 11)
            e.bytes(TensorField.doubleData, withUnsafeBytes(of: (2.5 as Double).bitPattern.littleEndian, Array.init))
        }
        XCTAssertEqual(d.scalars(as: Double.self), [2.5])
    }

    /// float16/bfloat16 are bit patterns in int32_data; 4-bit types pack two per int32 entry, low nibble first.
    func testTypedHalfAndPackedFields() throws {
        let h = try decode { e in
            e.packed(TensorField.dims, [2]); e.int(TensorField.dataType, 10)
            e.packed(TensorField.int32Data, [Int64(Float16(1.5).bitPattern), Int64(Float16(-2).bitPattern)])
        }
        XCTAssertEqual(h.floatValues(), [1.5, -2])
        let bf = try decode { e in
            e.packed(TensorField.dims, [1]); e.int(TensorField.dataType, 16); e.packed(TensorField.int32Data, [0x3FC0])
        }
        XCTAssertEqual(bf.floatValues(), [1.5])
        let i4 = try decode { e in
            e.packed(TensorField.dims, [3]); e.int(TensorField.dataType, 22); e.packed(TensorField.int32Data, [0x21, 0x0F])
        }
        XCTAssertEqual(i4.byteCount, 2)
        XCTAssertEqual(Array(i4.storage.bytes), [0x21, 0x0F])
        let f8 = try decode { e in
            e.packed(TensorField.dims, [2]); e.int(TensorField.dataType, 17); e.packed(TensorField.int32Data, [0x38, 0xB8])
        }
        XCTAssertEqual(Array(f8.storage.bytes), [0x38, 0xB8])
    }

    func testTypedFieldCountMismatch() {
        assertThrowsMCCError(["t.pb", "float_data has 2 values but dims need 3"]) {
            _ = try decode { e in
                e.packed(TensorField.dims, [3]); e.int(TensorField.dataType, 1); e.packedFloats(TensorField.floatData, [1, 2])
            }
        }
    }
}
