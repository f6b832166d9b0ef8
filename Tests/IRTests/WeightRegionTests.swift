import IR
import XCTest

/// WeightRegion hands out 64-byte-aligned, non-overlapping slices of one mapping sized up front, refuses slices
/// past its end, and released slices read back as zero pages (their memory went back to the kernel) while their
/// neighbours keep their bytes.
final class WeightRegionTests: XCTestCase {
    func testSlicesAreAlignedDisjointAndBounded() throws {
        let sizes = [3, 100_000, 1, 64, 200_000]
        let region = try XCTUnwrap(WeightRegion(byteCount: WeightRegion.byteCount(for: sizes)))
        var slices: [UnsafeMutableRawBufferPointer] = []
        for (i, size) in sizes.enumerated() {
            let slice = try XCTUnwrap(region.slice(byteCount: size))
            XCTAssertEqual(Int(bitPattern: slice.baseAddress) % WeightRegion.alignment, 0)
            slice.initializeMemory(as: UInt8.self, repeating: UInt8(i + 1))
            slices.append(slice)
        }
        for (i, slice) in slices.enumerated() {
            XCTAssertTrue(slice.allSatisfy { $0 == UInt8(i + 1) }, "slice \(i) was overwritten")
        }
        // The region was sized for exactly these slices (rounded up to a page): a large extra one does not fit.
        XCTAssertNil(region.slice(byteCount: region.byteCount))
    }

    /// A tail of at least half a huge page is mapped up to the next huge page (one fault instead of hundreds), but
    /// slices stay bounded by the size asked for; a short tail is not padded.
    func testLongTailIsMappedToAWholeHugePageButSlicesStayBounded() throws {
        let page = 4096, huge = 2 << 20
        for (requested, mapped) in [(1_600_000, huge), (huge + 1_200_000, 2 * huge), (huge + 100_000, huge + 102_400)] {
            let region = try XCTUnwrap(WeightRegion(byteCount: requested))
            let usable = (requested + page - 1) / page * page
            XCTAssertEqual(region.byteCount, usable)
            XCTAssertNil(region.slice(byteCount: usable + 1))
            let slice = try XCTUnwrap(region.slice(byteCount: requested))
            slice.initializeMemory(as: UInt8.self, repeating: 3)
            XCTAssertTrue(slice.allSatisfy { $0 == 3 })
            #if os(Linux)
            XCTAssertEqual(try mappingLength(containing: region.base), mapped, "\(requested) bytes")
            #endif
        }
    }

    /// Length of the /proc/self/maps entry that starts at `address`.
    private func mappingLength(containing address: UnsafeMutableRawPointer) throws -> Int? {
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        let start = Int(bitPattern: address)
        for line in maps.split(separator: "\n") {
            let range = line.split(separator: " ")[0].split(separator: "-")
            guard range.count == 2, let lo = Int(range[0], radix: 16), let hi = Int(range[1], radix: 16) else { continue }
            if lo == start { return hi - lo }
        }
        return nil
    }

    func testReleasedSliceReturnsItsWholePagesOnly() throws {
        let page = 4096
        let sizes = [100, 64 * page, 100]
        let region = try XCTUnwrap(WeightRegion(byteCount: WeightRegion.byteCount(for: sizes)))
        let before = try XCTUnwrap(region.slice(byteCount: sizes[0]))
        let middle = try XCTUnwrap(region.slice(byteCount: sizes[1]))
        let after = try XCTUnwrap(region.slice(byteCount: sizes[2]))
        for slice in [before, middle, after] { slice.initializeMemory(as: UInt8.self, repeating: 7) }
        region.release(middle)
        // Neighbours share the partial pages at the slice's ends: they keep their bytes.
        XCTAssertTrue(before.allSatisfy { $0 == 7 })
        XCTAssertTrue(after.allSatisfy { $0 == 7 })
        #if os(Linux)
        // Pages wholly inside the released slice are fresh zero pages now.
        let firstWholePage = (Int(bitPattern: middle.baseAddress) + page - 1) / page * page - Int(bitPattern: middle.baseAddress)
        XCTAssertEqual(middle[firstWholePage], 0)
        XCTAssertEqual(middle[firstWholePage + page], 0)
        #endif
    }
}
