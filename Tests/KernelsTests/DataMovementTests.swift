import XCTest
import Kernels

final class DataMovementTests: XCTestCase {
    /// Multi-index of flat index `i` in `shape`.
    func unravel(_ i: Int, _ shape: [Int]) -> [Int] {
        var rem = i
        var idx = [Int](repeating: 0, count: shape.count)
        for a in stride(from: shape.count - 1, through: 0, by: -1) {
            idx[a] = rem % shape[a]
            rem /= shape[a]
        }
        return idx
    }
    func ravel(_ idx: [Int], _ shape: [Int]) -> Int { zip(idx, shape).reduce(0) { $0 * $1.1 + $1.0 } }

    func testTransposeAllElementSizes() {
        let cases: [([Int], [Int])] = [
            ([3, 5], [1, 0]), ([2, 3, 37, 41], [0, 2, 3, 1]), ([2, 37, 41, 3], [0, 3, 1, 2]),
            ([2, 3, 4, 5, 6], [4, 2, 0, 3, 1]), ([1, 7, 1, 9], [3, 2, 1, 0]), ([4, 6], [0, 1]), ([300, 500], [1, 0]),
            // A side of at most 4 elements (the short-side passes): 2 and 4 channels each way.
            ([5, 2], [1, 0]), ([1, 4, 9, 7], [0, 2, 3, 1]), ([1, 9, 7, 4], [0, 3, 1, 2]),
        ]
        for (shape, perm) in cases {
            let n = shape.reduce(1, *)
            let x = (0..<n).map { Int64($0) * 7 + 3 }
            let outShape = perm.map { shape[$0] }
            var expected = [Int64](repeating: 0, count: n)
            for o in 0..<n {
                let oi = unravel(o, outShape)
                var ii = [Int](repeating: 0, count: shape.count)
                for a in 0..<perm.count { ii[perm[a]] = oi[a] }
                expected[o] = x[ravel(ii, shape)]
            }
            // Same permutation at 8, 4, 2 and 1 bytes per element (values fit after truncation).
            var y8 = [Int64](repeating: -1, count: n)
            transpose(src: x, shape: shape, perm: perm, elementSize: 8, dst: &y8)
            XCTAssertEqual(y8, expected, "\(shape) \(perm)")
            let x4 = x.map { Int32(truncatingIfNeeded: $0) }
            var y4 = [Int32](repeating: -1, count: n)
            transpose(src: x4, shape: shape, perm: perm, elementSize: 4, dst: &y4)
            XCTAssertEqual(y4, expected.map { Int32(truncatingIfNeeded: $0) })
            let x2 = x.map { Int16(truncatingIfNeeded: $0) }
            var y2 = [Int16](repeating: -1, count: n)
            transpose(src: x2, shape: shape, perm: perm, elementSize: 2, dst: &y2)
            XCTAssertEqual(y2, expected.map { Int16(truncatingIfNeeded: $0) })
            let x1 = x.map { UInt8(truncatingIfNeeded: $0) }
            var y1 = [UInt8](repeating: 0, count: n)
            transpose(src: x1, shape: shape, perm: perm, elementSize: 1, dst: &y1)
            XCTAssertEqual(y1, expected.map { UInt8(truncatingIfNeeded: $0) })
            // 3-byte elements take the generic byte-copy path.
            let x3 = x1.flatMap { [$0, $0 &+ 1, $0 &+ 2] }
            var y3 = [UInt8](repeating: 0, count: n * 3)
            transpose(src: x3, shape: shape, perm: perm, elementSize: 3, dst: &y3)
            XCTAssertEqual(y3, expected.map { UInt8(truncatingIfNeeded: $0) }.flatMap { [$0, $0 &+ 1, $0 &+ 2] })
        }
    }

    func testSliceExpandTile() {
        let shape = [4, 5, 6]
        let x = (0..<120).map { Float($0) }
        // Slice with steps 2, -1, 3: axis0 starts 1 (1,3), axis1 from 4 down (4..0), axis2 from 0 by 3 (0,3).
        var y = [Float](repeating: -1, count: 2 * 5 * 2)
        slice(src: x, shape: shape, starts: [1, 4, 0], steps: [2, -1, 3], outShape: [2, 5, 2], elementSize: 4, dst: &y)
        var expected = [Float]()
        for a in [1, 3] { for b in [4, 3, 2, 1, 0] { for c in [0, 3] { expected.append(x[(a * 5 + b) * 6 + c]) } } }
        XCTAssertEqual(y, expected)

        var e = [Float](repeating: -1, count: 2 * 3 * 4)
        expand(src: [1, 2, 3] as [Float], shape: [3, 1], outShape: [2, 3, 4], elementSize: 4, dst: &e)
        XCTAssertEqual(e, (0..<24).map { Float(($0 / 4) % 3 + 1) })

        var t = [Int32](repeating: -1, count: 2 * 2 * 3 * 2)
        tile(src: [1, 2, 3, 4] as [Int32], shape: [2, 2], repeats: [2, 3], elementSize: 4, dst: &t)
        XCTAssertEqual(t, [1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4])
    }

    func testConcatSplitGather() {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8, 9, 10]
        // Concat along axis 1 of a [2, 2] and b [2, 3].
        var y = [Float](repeating: 0, count: 10)
        a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                concat(inputs: [pa.baseAddress!, pb.baseAddress!], axisSizes: [2, 3], outer: 2, inner: 1,
                       elementSize: 4, dst: &y)
            }
        }
        XCTAssertEqual(y, [1, 2, 5, 6, 7, 3, 4, 8, 9, 10])
        var s0 = [Float](repeating: 0, count: 4), s1 = [Float](repeating: 0, count: 6)
        s0.withUnsafeMutableBytes { p0 in
            s1.withUnsafeMutableBytes { p1 in
                split(src: y, outer: 2, axisSizes: [2, 3], inner: 1, elementSize: 4,
                      outputs: [p0.baseAddress!, p1.baseAddress!])
            }
        }
        XCTAssertEqual(s0, a)
        XCTAssertEqual(s1, b)

        // Gather axis 1 of [2, 3, 2] with indices [2, -3, 1].
        let data = (0..<12).map { Int64($0) }
        var g = [Int64](repeating: -1, count: 12)
        [2, -3, 1].withUnsafeBufferPointer { idx in
            gather(src: data, outer: 2, axisLength: 3, inner: 2, indices: idx, elementSize: 8, dst: &g)
        }
        XCTAssertEqual(g, [4, 5, 0, 1, 2, 3, 10, 11, 6, 7, 8, 9])
    }

    func testPadModes() {
        let shape = [2, 3]
        let x: [Float] = [1, 2, 3, 4, 5, 6]
        var c: Float = 9
        func run(_ mode: PadMode, _ begin: [Int], _ end: [Int]) -> [Float] {
            let outShape = (0..<2).map { shape[$0] + begin[$0] + end[$0] }
            var y = [Float](repeating: -1, count: outShape.reduce(1, *))
            pad(src: x, shape: shape, padsBegin: begin, padsEnd: end, mode: mode, constant: &c, elementSize: 4, dst: &y)
            return y
        }
        XCTAssertEqual(run(.constant, [1, 1], [0, 1]), [9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 4, 5, 6, 9])
        XCTAssertEqual(run(.edge, [0, 2], [1, 1]), [1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6])
        XCTAssertEqual(run(.reflect, [0, 2], [0, 2]), [3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4])
        XCTAssertEqual(run(.wrap, [1, 1], [0, 2]),
                       [6, 4, 5, 6, 4, 5, 3, 1, 2, 3, 1, 2, 6, 4, 5, 6, 4, 5])
        // Negative pads crop.
        XCTAssertEqual(run(.constant, [0, -1], [-1, 1]), [2, 3, 9])
    }

    /// Rows split over the threads (pieces start mid-tensor, so each recomputes its multi-index) and the typed
    /// constant fills of 1-, 2-, 4- and 8-byte elements: exact copies, equal to the definition at any thread count.
    func testPadAcrossThreadsAndElementSizes() {
        func definition<T: Equatable>(_ x: [T], _ shape: [Int], _ begin: [Int], _ end: [Int], _ fill: T) -> [T] {
            let out = (0..<shape.count).map { shape[$0] + begin[$0] + end[$0] }
            var y = [T]()
            for flat in 0..<out.reduce(1, *) {
                var rest = flat, source = 0, step = 1, inside = true
                for axis in stride(from: out.count - 1, through: 0, by: -1) {
                    let i = rest % out[axis] - begin[axis]
                    rest /= out[axis]
                    if i < 0 || i >= shape[axis] { inside = false }
                    source += i * step
                    step *= shape[axis]
                }
                y.append(inside ? x[source] : fill)
            }
            return y
        }
        func check<T: Equatable & BitwiseCopyable>(_ x: [T], _ fill: T, _ shape: [Int], _ begin: [Int], _ end: [Int],
                                 file: StaticString = #filePath, line: UInt = #line) {
            let expected = definition(x, shape, begin, end, fill)
            for threads in [1, 2, 3] {
                let saved = KernelConfig.threads
                KernelConfig.threads = threads
                defer { KernelConfig.threads = saved }
                var c = fill
                // Start from something other than the fill so that missed writes show.
                var y = [T](repeating: x[0], count: expected.count)
                pad(src: x, shape: shape, padsBegin: begin, padsEnd: end, mode: .constant, constant: &c,
                    elementSize: MemoryLayout<T>.stride, dst: &y)
                XCTAssertEqual(y, expected, "\(T.self) threads \(threads)", file: file, line: line)
            }
        }
        // ppocrv4_rec-like 1-pixel spatial pad of a [1, C, H, W] map: 16·42 rows of 52 floats, several pieces.
        let shape = [1, 16, 40, 50]
        let n = shape.reduce(1, *)
        check((0..<n).map { Float($0) }, Float(-0.5), shape, [0, 0, 1, 1], [0, 0, 1, 1])
        // Padding on the channel axis too (whole constant rows), asymmetric.
        check((0..<n).map { Float($0) }, Float(7), shape, [0, 1, 2, 0], [0, 2, 0, 3])
        let small = [2, 3, 700]
        let m = small.reduce(1, *)
        check((0..<m).map { UInt8(truncatingIfNeeded: $0 % 200 + 1) }, UInt8(255), small, [0, 1, 3], [1, 0, 2])
        check((0..<m).map { Int16(truncatingIfNeeded: $0 + 1) }, Int16(-3), small, [1, 0, 0], [0, 1, 5])
        check((0..<m).map { Int64($0 + 1) }, Int64.min, small, [0, 2, 1], [1, 1, 1])
    }
}
