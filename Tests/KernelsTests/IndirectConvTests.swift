import TestSupport
import XCTest
import CKernels
import Kernels

/// Ungrouped stride-1 convolutions with ≥ 64 output positions run as one GEMM over row pointers into the padded input
/// (`mcc_indirect_conv`), with bias and activation in the same kernel.
final class IndirectConvTests: XCTestCase {
    private func run(_ p: Conv2DParams, x: [Float], w: [Float], bias: [Float]?, activation: UnaryOp) -> [Float] {
        var y = [Float](repeating: .nan, count: p.batch * p.outChannels * p.outHeight * p.outWidth)
        if let bias {
            conv2d(p, x: x, weight: w, bias: bias, activation: activation, y: &y)
        } else {
            conv2d(p, x: x, weight: w, bias: nil, activation: activation, y: &y)
        }
        return y
    }

    /// Every ISA variant (AVX-512 12×32, 10×32 or 8×48 blocks by channel count; 6×16) and 1-3 threads (column pieces) against the Double-accumulated
    /// reference; the outputs must also be bit-identical across thread counts (each output is the same in-order sum).
    private func check(_ p: Conv2DParams, withBias: Bool = true, activation: UnaryOp = .identity, tol: Float = 2e-5,
                       file: StaticString = #filePath, line: UInt = #line) {
        let x = randomFloats(p.batch * p.inChannels * p.inHeight * p.inWidth, seed: 21)
        let w = randomFloats(p.outChannels * p.inChannels * p.kernelHeight * p.kernelWidth, seed: 22)
        let b = withBias ? randomFloats(p.outChannels, seed: 23) : nil
        var expected = ConvTests.directReference(p, x, w, b)
        switch activation {
        case .identity: break
        case .relu: expected = expected.map { max(0, $0) }
        // SiLU through Double: the C kernel's exp polynomial is within a few float ulps of it.
        case .swish(let alpha): expected = expected.map { Float(Double($0) / (1 + exp(-Double(alpha) * Double($0)))) }
        default: XCTFail("no reference for \(activation)", file: file, line: line)
        }
        forEachISA { isa in
            var first: [Float]?
            for threads in [1, 2, 3] {
                let saved = KernelConfig.threads
                KernelConfig.threads = threads
                defer { KernelConfig.threads = saved }
                let y = run(p, x: x, w: w, bias: b, activation: activation)
                // Float sums of K products of magnitude ≤ 1 (K up to 576 here): worst-case rounding grows with K, so
                // the tolerance is relative to max(1, |ref|) and scaled by the caller for long sums.
                assertClose(y, expected, tol: tol, "\(isa) threads \(threads) \(p)", file: file, line: line)
                if let first {
                    XCTAssertEqual(y, first, "\(isa): threads \(threads) differ from 1 thread", file: file, line: line)
                } else {
                    first = y
                }
            }
        }
    }

    func testYoloLike3x3WithSiLUAndChannelTail() {
        // 13 output channels: a full block plus a partial one (8 + 5, or 6 + 6 + 1); wide width 25.
        check(Conv2DParams(batch: 1, inChannels: 16, inHeight: 20, inWidth: 23, outChannels: 13,
                           kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .swish(alpha: 1))
    }

    func testColumnTails() {
        // 1×3 on 12×11 (wide 12×13 = 156): four 32-column blocks, one 16-column block, a 12-column zero-padded tail.
        check(Conv2DParams(batch: 1, inChannels: 48, inHeight: 12, inWidth: 11, outChannels: 25,
                           kernelHeight: 1, kernelWidth: 3, pads: (0, 1, 0, 1)), withBias: false)
        // A padded 1×1 (not the pointwise path): wide 10×10 = 100 = 3·32 + 4.
        check(Conv2DParams(batch: 1, inChannels: 7, inHeight: 8, inWidth: 8, outChannels: 30,
                           kernelHeight: 1, kernelWidth: 1, pads: (1, 1, 1, 1)))
    }

    func testLargeMapShortSumsInChunks() {
        // mtcnn_pnet's shapes scaled down: maps above 80×80 with K ≤ 160, so the columns run in several 256-column
        // chunks (wide 92×101 = 9292 per image = 193·48 + 16 + 12) over 4 channel blocks (8 × 4, or 6 × 5 + 2), a
        // 16-column block and a zero-padded column tail; 16 channels in two 8×48 blocks, 10 in one 10×32 block.
        check(Conv2DParams(batch: 1, inChannels: 16, inHeight: 94, inWidth: 101, outChannels: 32,
                           kernelHeight: 3, kernelWidth: 3), activation: .relu)
        check(Conv2DParams(batch: 1, inChannels: 10, inHeight: 90, inWidth: 97, outChannels: 16,
                           kernelHeight: 3, kernelWidth: 3), activation: .relu)
        check(Conv2DParams(batch: 2, inChannels: 3, inHeight: 85, inWidth: 90, outChannels: 10,
                           kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)))
    }

    func testUnpaddedReadsPlanesInPlace() {
        // No padding: every plane but each image's last is read in place, the rows of plane c reaching into c + 1
        // for discarded columns only; batch 2 and a dilated 3-wide kernel (reach 4 floats) with one input channel
        // (only the copied plane) and with several.
        check(Conv2DParams(batch: 2, inChannels: 5, inHeight: 13, inWidth: 17, outChannels: 9,
                           kernelHeight: 3, kernelWidth: 3, dilations: (1, 2)), activation: .relu)
        check(Conv2DParams(batch: 2, inChannels: 1, inHeight: 12, inWidth: 20, outChannels: 7,
                           kernelHeight: 2, kernelWidth: 3, dilations: (2, 2)))
    }

    func testDilatedAsymmetricPadsAndBatch() {
        check(Conv2DParams(batch: 2, inChannels: 3, inHeight: 15, inWidth: 17, outChannels: 7,
                           kernelHeight: 5, kernelWidth: 5, dilations: (2, 2), pads: (2, 1, 3, 0)), activation: .relu)
        check(Conv2DParams(batch: 2, inChannels: 5, inHeight: 9, inWidth: 40, outChannels: 12,
                           kernelHeight: 3, kernelWidth: 1, pads: (0, 0, 2, 0)))
    }

    func testLongSums() {
        // K = 64·9 = 576 on a 10×10 map (yolov8n's deepest 3×3 shape, scaled down in channels).
        check(Conv2DParams(batch: 1, inChannels: 64, inHeight: 10, inWidth: 10, outChannels: 24,
                           kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1)), activation: .swish(alpha: 1), tol: 5e-5)
    }

    func testOnlyStrideOneUngroupedLargeMapsUseIt() {
        let base = Conv2DParams(batch: 1, inChannels: 8, inHeight: 8, inWidth: 8, outChannels: 8,
                                kernelHeight: 3, kernelWidth: 3, pads: (1, 1, 1, 1))
        XCTAssertTrue(base.usesIndirectGemm)
        var strided = base
        strided.strideH = 2
        XCTAssertFalse(strided.usesIndirectGemm)
        var grouped = base
        grouped.groups = 2
        XCTAssertFalse(grouped.usesIndirectGemm)
        var pointwise = base
        (pointwise.kernelHeight, pointwise.kernelWidth, pointwise.padTop, pointwise.padLeft, pointwise.padBottom,
         pointwise.padRight) = (1, 1, 0, 0, 0, 0)
        XCTAssertFalse(pointwise.usesIndirectGemm, "1×1 unpadded stays on OpenBLAS")
        var small = base
        small.inHeight = 4
        XCTAssertFalse(small.usesIndirectGemm, "32 positions: fewer than 64")
        var largest = base
        (largest.inHeight, largest.inWidth) = (80, 80)
        XCTAssertTrue(largest.usesIndirectGemm, "80×80 outputs: the largest map it takes")
        var large = largest
        large.inChannels = 18
        large.inWidth = 81
        XCTAssertFalse(large.usesIndirectGemm, "80×81 outputs with K = 162: the GEMM paths")
        large.inChannels = 17
        XCTAssertTrue(large.usesIndirectGemm, "K = 153 ≤ 160: short sums take any map")
    }
}
