import TestSupport
import XCTest
import CKernels

/// `mcc_im2col` is a pure copy, so every variant must equal the definition exactly, for any row range and any
/// output-position window [start, start + count) (the conv paths fill tiles and per-thread column ranges).
final class Im2colTests: XCTestCase {
    struct Case {
        var channels, h, w, kh, kw, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight: Int
        var oh: Int { (h + padTop + padBottom - dh * (kh - 1) - 1) / sh + 1 }
        var ow: Int { (w + padLeft + padRight - dw * (kw - 1) - 1) / sw + 1 }
    }

    /// Row r = (c, i, j), column p = oy·ow + ox - start: x[c, oy·sh - padTop + i·dh, ox·sw - padLeft + j·dw] or 0.
    func definition(_ k: Case, _ x: [Float], start: Int, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: k.channels * k.kh * k.kw * count)
        for r in 0..<(k.channels * k.kh * k.kw) {
            let c = r / (k.kh * k.kw), i = (r / k.kw) % k.kh, j = r % k.kw
            for p in 0..<count {
                let oy = (start + p) / k.ow, ox = (start + p) % k.ow
                let iy = oy * k.sh - k.padTop + i * k.dh, ix = ox * k.sw - k.padLeft + j * k.dw
                if iy >= 0 && iy < k.h && ix >= 0 && ix < k.w { out[r * count + p] = x[(c * k.h + iy) * k.w + ix] }
            }
        }
        return out
    }

    func check(_ k: Case, windows: [(Int, Int)], file: StaticString = #filePath, line: UInt = #line) {
        // Distinct nonzero values, so a copy from the wrong pixel or a missed zero shows.
        let x = (0..<(k.channels * k.h * k.w)).map { Float($0 + 1) }
        let rows = k.channels * k.kh * k.kw
        forEachISA { isa in
            for (start, count) in windows {
                var out = [Float](repeating: .nan, count: rows * count)
                mcc_im2col(x, k.h, k.w, k.kh, k.kw, k.sh, k.sw, k.dh, k.dw, k.padTop, k.padLeft, k.ow, 0, rows,
                           start, count, &out)
                XCTAssertEqual(out, definition(k, x, start: start, count: count), "\(isa) \(k) window \(start)+\(count)",
                               file: file, line: line)
            }
        }
    }

    /// Unit strides with ow == w take the one-copy-per-row path: "same" width padding (1×3 with pads 1/1, as in
    /// oww_embedding, asymmetric 2/0, dilated), unpadded kw == 1 (3×1), rows in the top/bottom padding, and windows
    /// that start and end mid-row; narrow maps (w = 1, 2) where every column of a row can be padding.
    func testUnitStrideSameWidth() {
        let cases = [
            Case(channels: 3, h: 6, w: 5, kh: 1, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 0, padLeft: 1, padBottom: 0, padRight: 1),
            Case(channels: 2, h: 7, w: 4, kh: 3, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0),
            Case(channels: 2, h: 5, w: 6, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            Case(channels: 2, h: 4, w: 5, kh: 2, kw: 3, sh: 1, sw: 1, dh: 2, dw: 1, padTop: 2, padLeft: 2, padBottom: 0, padRight: 0),
            Case(channels: 1, h: 6, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 2, padTop: 3, padLeft: 2, padBottom: 1, padRight: 2),
            Case(channels: 2, h: 3, w: 2, kh: 1, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 0, padLeft: 1, padBottom: 0, padRight: 1),
            Case(channels: 2, h: 4, w: 1, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            // Wide rows (vector copies of 16 and 8 plus scalar tails).
            Case(channels: 2, h: 5, w: 37, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ]
        for k in cases {
            let n = k.oh * k.ow
            check(k, windows: [(0, n), (1, n - 1), (k.ow + 1, max(1, n / 2 - k.ow)), (n - 1, 1), (n / 3, max(1, n / 3))])
        }
    }

    /// The per-output-row path (strided, or output rows shorter than input rows) is unchanged: same definition.
    func testStridedAndValidWidth() {
        let cases = [
            Case(channels: 2, h: 9, w: 11, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            Case(channels: 2, h: 8, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0),
            Case(channels: 1, h: 7, w: 40, kh: 2, kw: 3, sh: 1, sw: 3, dh: 1, dw: 1, padTop: 1, padLeft: 0, padBottom: 0, padRight: 2),
        ]
        for k in cases {
            let n = k.oh * k.ow
            check(k, windows: [(0, n), (2, n - 3)])
        }
    }
}
