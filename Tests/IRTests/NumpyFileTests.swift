import Foundation
import IR
import XCTest

/// .npy read/write: round trips per dtype, header forms NumPy writes, and malformed files.
final class NumpyFileTests: XCTestCase {
    func testRoundTripKeepsTypeShapeAndBytes() throws {
        let cases: [Tensor] = [
            Tensor(floats: [1.5, -2, 3.25, 0], shape: [2, 2]),
            Tensor(int64s: [Int64.min, 0, 7], shape: [3]),
            Tensor(.uint8, shape: [], values: [UInt8(200)]),
            Tensor(.float16, shape: [2], values: [Float16(1.5).bitPattern, Float16(-0.25).bitPattern]),
            Tensor(.bool, shape: [1, 2], values: [UInt8(1), UInt8(0)]),
        ]
        for tensor in cases {
            let bytes = try NumpyFile.encode(tensor)
            XCTAssertEqual((bytes.count - tensor.byteCount) % 64, 0, "header is padded to 64 bytes")
            let back = try bytes.withUnsafeBytes { try NumpyFile.decode($0, label: "t.npy") }
            XCTAssertEqual(back.elementType, tensor.elementType)
            XCTAssertEqual(back.shape, tensor.shape)
            XCTAssertEqual(Array(back.storage.bytes), Array(tensor.storage.bytes.prefix(tensor.byteCount)))
        }
    }

    func testFortranOrderIsTransposed() throws {
        // numpy.asfortranarray([[1,2,3],[4,5,6]], dtype='<f4') stores 1,4,2,5,3,6.
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"
        let bytes = npy(header: header, payload: [1, 4, 2, 5, 3, 6].flatMap { Float($0).bitPattern.littleEndianBytes })
        let t = try bytes.withUnsafeBytes { try NumpyFile.decode($0, label: "f.npy") }
        XCTAssertEqual(t.floatValues(), [1, 2, 3, 4, 5, 6])
    }

    func testMalformedFilesNameTheFile() {
        let cases: [([UInt8], String)] = [
            (Array("not numpy".utf8), "bad magic"),
            (npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", payload: [0, 0, 0, 0]), "truncated"),
            (npy(header: "{'descr': '<U8', 'fortran_order': False, 'shape': (1,), }", payload: []), "not supported"),
            (npy(header: "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", payload: [0, 0, 0, 0]), "big-endian"),
            (npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", payload: []), "too large"),
        ]
        for (bytes, needle) in cases {
            XCTAssertThrowsError(try bytes.withUnsafeBytes { try NumpyFile.decode($0, label: "bad.npy") }) { error in
                let message = (error as? MCCError)?.message ?? ""
                XCTAssertTrue(message.contains("bad.npy") && message.contains(needle), message)
            }
        }
    }

    private func npy(header: String, payload: [UInt8]) -> [UInt8] {
        var h = header
        while (10 + h.utf8.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.utf8.count & 0xFF), UInt8(h.utf8.count >> 8)] + Array(h.utf8) + payload
    }
}

private extension UInt32 {
    var littleEndianBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) } }
}
