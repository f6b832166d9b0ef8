import CKernels

/// One fork for a single-group convolution that is batched, or too small for `conv2d`'s tile path to give every
/// thread a tile.
///
/// Without it such a convolution (silero_vad's encoder, stride-2 and 1×1 convs of the detectors at their small
/// scales; stride-1 k×k convs on 64–6400 positions run as an indirect GEMM instead, see IndirectConv.swift) forks up
/// to three times: im2col, sgemm's column blocks (only above ~0.5 M multiply-adds) and
/// the bias/activation pass, each a wake-up and a barrier for tens of microseconds of work, so the second thread
/// bought little. Here each thread takes one fixed piece of the output and does all of it in one `parallelFor`:
/// - images (batch ≥ threads, e.g. mtcnn_onet's 16): whole images with serial kernels, tap-sum convs included;
/// - columns (≥ 32 output positions per thread): its own im2col tile of those positions (1×1 convs read the input
///   directly), one serial sgemm for all output channels, then the epilogue on that block while it is in cache;
/// - channels (fewer positions, e.g. silero_vad's 4-column maps): the whole (small) im2col matrix, redone per
///   thread — 1/M of the sgemm's work — and a serial sgemm for a range of output channels.
/// Split points depend only on the shape and the thread count, so results are deterministic for a thread count.
struct ConvSplit {
    enum Axis { case images, columns, channels }

    /// Below this many multiply-adds (~5-10 µs on one core) a fork costs more than the second core saves.
    static let minimumMultiplyAdds = 1 << 17
    /// Channel pieces multiply few columns (worse sgemm efficiency) and each redoes the im2col: they need more work.
    /// (silero_vad's 0.2-0.26 M multiply-add convs on 4 columns measured slower split than serial.)
    static let minimumChannelSplitMultiplyAdds = 1 << 19

    let axis: Axis
    let pieces: Int
    let outPlane: Int
    let outChannels: Int
    let patchSize: Int
    let pointwise: Bool
    /// Floats of im2col workspace one piece uses (0 for 1×1 convolutions).
    let pieceWorkspace: Int

    var workspaceCount: Int { pieces * pieceWorkspace }

    init?(_ p: Conv2DParams, threads: Int) {
        guard threads > 1, p.groups == 1, !p.isDepthwise else { return nil }
        let outPlane = p.outHeight * p.outWidth
        guard outPlane > 0, p.outChannels > 0, p.batch > 0,
              p.batch * p.outChannels * p.patchSize * outPlane >= Self.minimumMultiplyAdds else { return nil }
        self.outPlane = outPlane
        outChannels = p.outChannels
        patchSize = p.patchSize
        pointwise = p.isPointwise
        if p.batch >= threads && (p.batch % threads == 0 || p.batch >= 4 * threads) {
            // Whole images per thread (mtcnn_onet runs 16 at a time): one fork for the batch, serial kernels inside.
            axis = .images
            pieces = threads
            pieceWorkspace = p.usesTapSum ? tapSumPaddedCount(p) + tapSumWideCount(p)
                : pointwise ? 0 : patchSize * im2colTileColumns(p)
            return
        }
        guard !p.usesTapSum, p.outChannels * p.patchSize * outPlane >= Self.minimumMultiplyAdds else { return nil }
        if !p.isPointwise {
            let tile = im2colTileColumns(p)
            // Enough tiles for every thread: the tile path in `conv2d` already runs in one fork.
            guard (outPlane + tile - 1) / tile < threads else { return nil }
        }
        pieces = threads
        if outPlane >= 32 * threads {
            axis = .columns
            let widest = (0..<threads).map {
                Self.bound($0 + 1, of: outPlane, pieces: threads, multiple: 16) - Self.bound($0, of: outPlane, pieces: threads, multiple: 16)
            }.max() ?? 0
            pieceWorkspace = pointwise ? 0 : patchSize * widest
        } else if p.outChannels >= 8 * threads, p.outChannels * patchSize * outPlane >= Self.minimumChannelSplitMultiplyAdds {
            axis = .channels
            pieceWorkspace = pointwise ? 0 : patchSize * outPlane
        } else {
            return nil
        }
    }

    /// Start of piece `piece` of `0..<count` in `pieces` near-equal parts, rounded up to a multiple of `multiple`
    /// (keeps sgemm's SIMD tails rare).
    static func bound(_ piece: Int, of count: Int, pieces: Int, multiple: Int) -> Int {
        min(count, (count * piece / pieces + multiple - 1) / multiple * multiple)
    }

    /// y = epilogue(conv(x) + beta·y) for the whole batch. `bias` is applied in the epilogue (nil when the caller
    /// filled it into y for beta = 1). `workspace` holds `workspaceCount` floats (unused for 1×1 convolutions);
    /// `tapWeights` is `packConvWeights` of `weight` when `p.usesTapSum`.
    func run(
        _ p: Conv2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, tapWeights: UnsafePointer<Float>?,
        bias: UnsafePointer<Float>?, epilogue: (code: Int32, a: Float, b: Float), beta: Float,
        y: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>?
    ) {
        let inImage = p.inChannels * p.inHeight * p.inWidth, outImage = outChannels * outPlane
        if axis == .images {
            parallelFor(pieces) { range in
                for piece in range {
                    let first = Self.bound(piece, of: p.batch, pieces: pieces, multiple: 1)
                    let end = Self.bound(piece + 1, of: p.batch, pieces: pieces, multiple: 1)
                    let scratch = workspace.map { $0 + piece * pieceWorkspace }
                    for n in first..<end {
                        imageSerial(p, x: x + n * inImage, weight: weight, tapWeights: tapWeights, bias: bias,
                                    epilogue: epilogue, beta: beta, y: y + n * outImage, workspace: scratch)
                    }
                }
            }
            return
        }
        for n in 0..<p.batch {
            let (xn, yn) = (x + n * inImage, y + n * outImage)
            parallelFor(pieces) { range in
                for piece in range {
                    runPiece(piece, p, x: xn, weight: weight, bias: bias, epilogue: epilogue, beta: beta, y: yn,
                          columns: workspace.map { $0 + piece * pieceWorkspace })
                }
            }
        }
    }

    /// One image on the calling thread (the tap-sum kernel's own `parallelFor` runs inline inside a job).
    private func imageSerial(
        _ p: Conv2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, tapWeights: UnsafePointer<Float>?,
        bias: UnsafePointer<Float>?, epilogue: (code: Int32, a: Float, b: Float), beta: Float,
        y: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>?
    ) {
        if p.usesTapSum {
            guard let tapWeights, let workspace else { return }
            tapSumConv2d(p, x: x, tapWeights: tapWeights, bias: bias, epilogue: epilogue, y: y, workspace: workspace)
            return
        }
        let tile = pointwise ? outPlane : im2colTileColumns(p)
        var start = 0
        while start < outPlane {
            let count = min(tile, outPlane - start)
            columnRange(start, count, p, x: x, weight: weight, bias: bias, epilogue: epilogue, beta: beta, y: y,
                        columns: workspace)
            start += count
        }
    }

    /// Output columns `start..<start+count` for all channels: im2col of just those columns into `columns` (not for
    /// 1×1), one sgemm, then the bias/activation epilogue on the same columns while they are in cache.
    private func columnRange(
        _ start: Int, _ count: Int, _ p: Conv2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, epilogue: (code: Int32, a: Float, b: Float), beta: Float,
        y: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>?
    ) {
        let k = patchSize
        var b = x + start, ldb = outPlane
        if !pointwise, let columns {
            im2colSerial(p, x: x, columns: columns, start: start, count: count)
            (b, ldb) = (UnsafePointer(columns), count)
        }
        sgemmSerial(transA: false, transB: false, m: outChannels, n: count, k: k, a: weight, lda: k,
                    b: b, ldb: ldb, beta: beta, c: y + start, ldc: outPlane)
        if bias != nil || epilogue.code != Int32(MCC_ACT_IDENTITY) {
            mcc_bias_activation(y + start, outChannels, count, outPlane, bias, epilogue.code, epilogue.a, epilogue.b)
        }
    }

    /// Piece `index` of one image: a column range for all channels, or a channel range for all columns.
    private func runPiece(
        _ index: Int, _ p: Conv2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, epilogue: (code: Int32, a: Float, b: Float), beta: Float,
        y: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>?
    ) {
        let hasEpilogue = bias != nil || epilogue.code != Int32(MCC_ACT_IDENTITY)
        let k = patchSize
        switch axis {
        case .images:
            return
        case .columns:
            let start = Self.bound(index, of: outPlane, pieces: pieces, multiple: 16)
            let count = Self.bound(index + 1, of: outPlane, pieces: pieces, multiple: 16) - start
            guard count > 0 else { return }
            columnRange(start, count, p, x: x, weight: weight, bias: bias, epilogue: epilogue, beta: beta, y: y,
                        columns: columns)
        case .channels:
            let m0 = Self.bound(index, of: outChannels, pieces: pieces, multiple: 8)
            let rows = Self.bound(index + 1, of: outChannels, pieces: pieces, multiple: 8) - m0
            guard rows > 0 else { return }
            var b = x
            if !pointwise, let columns {
                im2colSerial(p, x: x, columns: columns, start: 0, count: outPlane)
                b = UnsafePointer(columns)
            }
            let yRows = y + m0 * outPlane
            sgemmSerial(transA: false, transB: false, m: rows, n: outPlane, k: k, a: weight + m0 * k, lda: k,
                        b: b, ldb: outPlane, beta: beta, c: yRows, ldc: outPlane)
            if hasEpilogue {
                var rowBias: UnsafePointer<Float>? = nil
                if let bias { rowBias = bias + m0 }
                mcc_bias_activation(yRows, rows, outPlane, outPlane, rowBias, epilogue.code, epilogue.a, epilogue.b)
            }
        }
    }
}
