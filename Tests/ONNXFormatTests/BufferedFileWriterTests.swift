import Foundation
import ONNXFormat
import TestSupport
import XCTest

/// BufferedFileWriter: small chunks gathered, large ones written in place, bytes in order, errors reported.
final class BufferedFileWriterTests: XCTestCase {
    func testMixedChunksArriveInOrder() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.path("out.bin")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        // Sizes straddle the small-chunk limit (16 KiB) and the buffer (256 KiB); contents depend on the position.
        let sizes = [1, 7, 0, 16383, 16384, 3, 100_000, 200_000, 1 << 20, 5, 65_536, 12]
        var expected: [UInt8] = []
        var writer = BufferedFileWriter(descriptor: fd)
        for (k, size) in sizes.enumerated() {
            let chunk = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ k &* 7) }
            expected += chunk
            XCTAssertNil(chunk.withUnsafeBytes { writer.write($0) })
        }
        XCTAssertNil(writer.flush())
        close(fd)
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), expected)
    }

    /// Gathering mode (chunks stay valid until the flush): the same bytes in order, across the buffer's refills and
    /// more pieces than one `writev` takes (1024).
    func testGatheredChunksArriveInOrder() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.path("gathered.bin")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var sizes = [1, 7, 0, 16383, 16384, 3, 100_000, 200_000, 1 << 20, 5, 65_536, 12, 300_000]
        for k in 0..<1500 { sizes.append(k % 3 == 0 ? 16_384 + k : 1 + k % 5000) }
        let chunks = sizes.enumerated().map { k, size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ k &* 7) } }
        var writer = BufferedFileWriter(descriptor: fd, chunksStayValid: true)
        for chunk in chunks { XCTAssertNil(chunk.withUnsafeBytes { writer.write($0) }) }
        XCTAssertNil(writer.flush())
        close(fd)
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), Array(chunks.joined()))
    }

    func testWriteErrorsAreReported() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.path("read-only.bin")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var writer = BufferedFileWriter(descriptor: fd)
        let big = [UInt8](repeating: 1, count: 1 << 16)
        XCTAssertEqual(big.withUnsafeBytes { writer.write($0) }, EBADF)
        XCTAssertNil([UInt8](repeating: 2, count: 10).withUnsafeBytes { writer.write($0) })  // buffered only
        XCTAssertEqual(writer.flush(), EBADF)
        var gathering = BufferedFileWriter(descriptor: fd, chunksStayValid: true)
        XCTAssertNil(big.withUnsafeBytes { gathering.write($0) }, "queued, not written yet")
        XCTAssertEqual(gathering.flush(), EBADF)
    }
}
