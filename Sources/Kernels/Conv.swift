import CKernels

/// Shape and attributes of a 2-D convolution (ONNX Conv). 1-D convolution is H = 1, kernelH = 1.
///
/// Layouts: input [N, C, H, W], weight [M, C/groups, kH, kW], bias [M], output [N, M, outH, outW], all contiguous
/// row-major. Pads are (top, left, bottom, right) as resolved by the caller (auto_pad already applied).
public struct Conv2DParams: Sendable, Equatable {
    public var batch: Int
    public var inChannels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var outChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideH = 1, strideW = 1
    public var dilationH = 1, dilationW = 1
    public var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0
    public var groups = 1

    public init(
        batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int,
        kernelHeight: Int, kernelWidth: Int, strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
        pads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0), groups: Int = 1
    ) {
        self.batch = batch
        self.inChannels = inChannels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outChannels = outChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        (strideH, strideW) = strides
        (dilationH, dilationW) = dilations
        (padTop, padLeft, padBottom, padRight) = pads
        self.groups = groups
    }

    public var outHeight: Int {
        max(0, (inHeight + padTop + padBottom - dilationH * (kernelHeight - 1) - 1) / strideH + 1)
    }
    public var outWidth: Int {
        max(0, (inWidth + padLeft + padRight - dilationW * (kernelWidth - 1) - 1) / strideW + 1)
    }

    /// groups == C == M: one filter per channel, handled by the dedicated depthwise kernel.
    public var isDepthwise: Bool { groups > 1 && groups == inChannels && groups == outChannels }

    /// A 1×1 stride-1 unpadded convolution is a plain GEMM on the input.
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1
            && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0
    }

    var groupInChannels: Int { inChannels / groups }
    var groupOutChannels: Int { outChannels / groups }
    /// Rows of the im2col matrix: (C/g)·kH·kW.
    var patchSize: Int { groupInChannels * kernelHeight * kernelWidth }

    func validate() {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0, "conv: bad groups")
        precondition(strideH > 0 && strideW > 0 && dilationH > 0 && dilationW > 0, "conv: bad stride/dilation")
        precondition(kernelHeight > 0 && kernelWidth > 0, "conv: empty kernel")
    }
}

/// Upper bound of the im2col column buffer, in bytes. 1 MB keeps a tile in a core's L2 until sgemm packs it
/// (8 MB, L3-sized, measured ~1.5x slower on mtcnn_pnet's wide 16→32 3×3 and no faster elsewhere).
let im2colBudgetBytes = 1 << 20

/// Number of floats of workspace `conv2d` needs for `p` (0 when it runs without one).
public func conv2dWorkspaceCount(_ p: Conv2DParams) -> Int {
    if p.isDepthwise { return depthwiseWorkspaceCount(p) }
    if p.usesIndirectGemm { return indirectWorkspaceCount(p) }
    if p.isPointwise { return 0 }
    if let split = ConvSplit(p, threads: KernelConfig.threads) { return split.workspaceCount }
    if p.usesTapSum { return tapSumPaddedCount(p) + tapSumWideCount(p) }
    return im2colTileSlots(p) * p.patchSize * im2colTileColumns(p)
}

/// Column tiles `conv2d`'s tile path fills at once: one per thread when there are enough (group, tile) pieces for
/// every thread, else 1 (tiles one after another, each im2col/sgemm split over the threads).
func im2colTileSlots(_ p: Conv2DParams) -> Int {
    let tile = im2colTileColumns(p)
    let tiles = (p.outHeight * p.outWidth + tile - 1) / tile
    let threads = KernelConfig.threads
    return threads > 1 && p.groups * tiles >= threads ? min(threads, p.groups * tiles) : 1
}

/// Floats of the tap-major weights `packConvWeights` writes for `p`: 0 when `conv2d` reads the ONNX layout directly.
/// Callers running the same weights many times pack them once and pass them as `packedWeights`.
public func packedConvWeightCount(_ p: Conv2DParams) -> Int {
    p.usesTapSum && !p.usesIndirectGemm ? p.kernelHeight * p.kernelWidth * p.outChannels * p.inChannels : 0
}

/// [M, C, kh, kw] → [taps, M, C] (each tap's weights a row-major A operand of the tap-sum path), contiguous writes.
public func packConvWeights(_ p: Conv2DParams, weight: UnsafePointer<Float>, into packed: UnsafeMutablePointer<Float>) {
    let taps = p.kernelHeight * p.kernelWidth, mc = p.outChannels * p.inChannels
    for t in 0..<taps {
        for row in 0..<mc { packed[t * mc + row] = weight[row * taps + t] }
    }
}

func tapSumPaddedCount(_ p: Conv2DParams) -> Int {
    p.inChannels * ((p.inHeight + p.padTop + p.padBottom) * (p.inWidth + p.padLeft + p.padRight) + p.kernelWidth)
}

func tapSumWideCount(_ p: Conv2DParams) -> Int { p.outChannels * p.outHeight * (p.inWidth + p.padLeft + p.padRight) }

func im2colTileColumns(_ p: Conv2DParams) -> Int {
    let columns = p.outHeight * p.outWidth
    let budget = max(16, im2colBudgetBytes / (4 * max(1, p.patchSize)))
    return max(1, min(columns, budget))
}

/// 2-D convolution with optional bias and fused activation: `y = activation(conv(x, w) + bias)`.
///
/// Paths: depthwise → `depthwiseConv2d`; ungrouped stride 1 with ≥ 64 output positions → `indirectConv2d` (bias and
/// activation in its C kernel); 1×1/stride 1/no pad → one sgemm per image and group; otherwise im2col in
/// column tiles (bounded by `im2colBudgetBytes`) + sgemm. Bias and activation are one pass over each block of the
/// output right after sgemm wrote it (`mcc_bias_activation`); activations without a C kernel take the bias as
/// sgemm's initial C and a separate pass. `workspace` must hold `conv2dWorkspaceCount(p)` floats, or be nil to
/// allocate internally. `packedWeights`, when given, is `packConvWeights` of `weight` (else packed per call).
public func conv2d(
    _ p: Conv2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    activation: UnaryOp = .identity, y: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>? = nil,
    packedWeights: UnsafePointer<Float>? = nil
) {
    p.validate()
    if p.isDepthwise {
        depthwiseConv2d(p, x: x, weight: weight, bias: bias, activation: activation, y: y, workspace: workspace)
        return
    }
    let outPlane = p.outHeight * p.outWidth
    let inPlane = p.inHeight * p.inWidth
    let cg = p.groupInChannels, mg = p.groupOutChannels
    let k = p.patchSize
    guard outPlane > 0, p.batch > 0, p.outChannels > 0 else { return }
    let fusedEpilogue = activation == .identity || activation.cActivation != nil
    let epilogue = activation.cActivation ?? (Int32(MCC_ACT_IDENTITY), 0, 0)

    if p.usesIndirectGemm {
        let owned: UnsafeMutablePointer<Float>? = workspace == nil ? .allocate(capacity: indirectWorkspaceCount(p)) : nil
        defer { owned?.deallocate() }
        guard let scratch = workspace ?? owned else { return }
        indirectConv2d(p, x: x, weight: weight, bias: bias,
                       epilogue: fusedEpilogue ? epilogue : (Int32(MCC_ACT_IDENTITY), 0, 0), y: y, workspace: scratch)
        if !fusedEpilogue {
            applyBiasActivation(y, channels: p.batch * p.outChannels, spatial: outPlane, bias: nil, activation)
        }
        return
    }

    if let split = ConvSplit(p, threads: KernelConfig.threads) {
        let ownedWeights: UnsafeMutablePointer<Float>? = p.usesTapSum && packedWeights == nil
            ? .allocate(capacity: packedConvWeightCount(p)) : nil
        let owned: UnsafeMutablePointer<Float>? = workspace == nil && split.workspaceCount > 0
            ? .allocate(capacity: split.workspaceCount) : nil
        defer {
            ownedWeights?.deallocate()
            owned?.deallocate()
        }
        if let ownedWeights { packConvWeights(p, weight: weight, into: ownedWeights) }
        // Tap-sum overwrites y (bias in its copy-out); the GEMM paths accumulate onto a bias fill when the
        // activation has no C epilogue.
        var beta: Float = 0
        if !fusedEpilogue && !p.usesTapSum {
            for n in 0..<p.batch { beta = fillBias(y + n * p.outChannels * outPlane, channels: p.outChannels, spatial: outPlane, bias) }
        }
        split.run(p, x: x, weight: weight, tapWeights: packedWeights ?? ownedWeights.map { UnsafePointer($0) },
                  bias: fusedEpilogue || p.usesTapSum ? bias : nil,
                  epilogue: fusedEpilogue ? epilogue : (Int32(MCC_ACT_IDENTITY), 0, 0), beta: beta, y: y,
                  workspace: workspace ?? owned)
        if !fusedEpilogue {
            applyBiasActivation(y, channels: p.batch * p.outChannels, spatial: outPlane, bias: nil, activation)
        }
        return
    }

    if p.isPointwise {
        for n in 0..<p.batch {
            let yn = y + n * p.outChannels * outPlane
            let beta = fusedEpilogue ? 0 : fillBias(yn, channels: p.outChannels, spatial: outPlane, bias)
            for g in 0..<p.groups {
                sgemm(transA: false, transB: false, m: mg, n: outPlane, k: cg,
                      a: weight + g * mg * cg, lda: cg,
                      b: x + (n * p.inChannels + g * cg) * inPlane, ldb: inPlane, beta: beta,
                      c: yn + g * mg * outPlane, ldc: outPlane)
            }
            applyBiasActivation(yn, channels: p.outChannels, spatial: outPlane, bias: fusedEpilogue ? bias : nil, activation)
        }
        return
    }

    /// Bias + activation on the block of group g's output just computed (columns [start, start + count)).
    func finishTile(_ yg: UnsafeMutablePointer<Float>, group g: Int, start: Int, count: Int) {
        guard fusedEpilogue, bias != nil || epilogue.code != Int32(MCC_ACT_IDENTITY) else { return }
        var groupBias: UnsafePointer<Float>? = nil
        if let bias { groupBias = bias + g * mg }
        mcc_bias_activation(yg + start, mg, count, outPlane, groupBias, epilogue.code, epilogue.a, epilogue.b)
    }

    if p.usesTapSum {
        let ownedWeights: UnsafeMutablePointer<Float>? = packedWeights == nil ? .allocate(capacity: packedConvWeightCount(p)) : nil
        let ownedWorkspace: UnsafeMutablePointer<Float>? = workspace == nil ? .allocate(capacity: conv2dWorkspaceCount(p)) : nil
        defer {
            ownedWeights?.deallocate()
            ownedWorkspace?.deallocate()
        }
        if let ownedWeights { packConvWeights(p, weight: weight, into: ownedWeights) }
        guard let tapWeights = packedWeights ?? ownedWeights.map({ UnsafePointer($0) }),
              let scratch = workspace ?? ownedWorkspace else { return }
        for n in 0..<p.batch {
            let yn = y + n * p.outChannels * outPlane
            tapSumConv2d(p, x: x + n * p.inChannels * inPlane, tapWeights: tapWeights, bias: bias,
                         epilogue: fusedEpilogue ? epilogue : (Int32(MCC_ACT_IDENTITY), 0, 0), y: yn,
                         workspace: scratch)
            if !fusedEpilogue { applyBiasActivation(yn, channels: p.outChannels, spatial: outPlane, bias: nil, activation) }
        }
        return
    }

    let tile = im2colTileColumns(p)
    let tiles = (outPlane + tile - 1) / tile
    let slots = im2colTileSlots(p)
    if slots > 1 {
        // Enough independent (group, tile) pieces: each thread fills its own column tile and multiplies it while it
        // is still in its core's cache, with serial BLAS. The caller's workspace holds one tile per slot (pooled by
        // the interpreter: a fresh allocation of up to 1 MB per thread cost page faults on every run).
        let pieces = p.groups * tiles
        let owned: UnsafeMutablePointer<Float>? = workspace == nil ? .allocate(capacity: slots * k * tile) : nil
        defer { owned?.deallocate() }
        guard let perThread = workspace ?? owned else { return }
        for n in 0..<p.batch {
            let yn = y + n * p.outChannels * outPlane
            let beta = fusedEpilogue ? 0 : fillBias(yn, channels: p.outChannels, spatial: outPlane, bias)
            parallelFor(slots) { slotRange in
                for slot in slotRange {
                    let columns = perThread + slot * k * tile
                    var piece = slot
                    while piece < pieces {
                        let g = piece / tiles, start = (piece % tiles) * tile
                        let count = min(tile, outPlane - start)
                        let xg = x + (n * p.inChannels + g * cg) * inPlane
                        let yg = yn + g * mg * outPlane
                        im2colSerial(p, x: xg, columns: columns, start: start, count: count)
                        sgemmSerial(transA: false, transB: false, m: mg, n: count, k: k,
                                    a: weight + g * mg * k, lda: k, b: columns, ldb: count, beta: beta,
                                    c: yg + start, ldc: outPlane)
                        finishTile(yg, group: g, start: start, count: count)
                        piece += slots
                    }
                }
            }
            if !fusedEpilogue { applyBiasActivation(yn, channels: p.outChannels, spatial: outPlane, bias: nil, activation) }
        }
        return
    }
    let owned: UnsafeMutablePointer<Float>? = workspace == nil ? .allocate(capacity: k * tile) : nil
    defer { owned?.deallocate() }
    guard let columns = workspace ?? owned else { return }
    for n in 0..<p.batch {
        let yn = y + n * p.outChannels * outPlane
        let beta = fusedEpilogue ? 0 : fillBias(yn, channels: p.outChannels, spatial: outPlane, bias)
        for g in 0..<p.groups {
            let xg = x + (n * p.inChannels + g * cg) * inPlane
            let yg = yn + g * mg * outPlane
            var start = 0
            while start < outPlane {
                let count = min(tile, outPlane - start)
                im2col(p, x: xg, columns: columns, start: start, count: count)
                sgemm(transA: false, transB: false, m: mg, n: count, k: k,
                      a: weight + g * mg * k, lda: k, b: columns, ldb: count, beta: beta,
                      c: yg + start, ldc: outPlane)
                finishTile(yg, group: g, start: start, count: count)
                start += count
            }
        }
        if !fusedEpilogue { applyBiasActivation(yn, channels: p.outChannels, spatial: outPlane, bias: nil, activation) }
    }
}

extension Conv2DParams {
    /// Stride-1, undilated, ungrouped convolutions with at least 32 input channels and up to 5×5 taps run as a sum
    /// of 1×1 convolutions over shifted views of the padded input (`tapSumConv2d`): no im2col matrix (k·k copies
    /// of the input, ~20% of conv time) and each sgemm still has K = C ≥ 32 (with K = 16, mtcnn_pnet's 16→32 3×3
    /// measured ~25% slower than im2col). Kernels of fewer than 9 taps with small outputs (< 1024 positions, e.g.
    /// oww_embedding's 1×3/3×1 convs on 16- to 2-wide maps) stay on im2col: its column matrix is only a few copies
    /// of a small input, while tap-sum pays per-tap sgemm calls, discarded wide columns and a copy-out of short
    /// rows (oww_embedding CPU per run 2.9 → 1.9 ms with this rule and cached packed weights).
    var usesTapSum: Bool {
        strideH == 1 && strideW == 1 && dilationH == 1 && dilationW == 1 && groups == 1 && inChannels >= 32
            && kernelHeight * kernelWidth > 1 && kernelHeight <= 5 && kernelWidth <= 5
            && (kernelHeight * kernelWidth >= 9 || outHeight * outWidth >= 1024)
    }
}

/// y (one image, [M, oh, ow]) = epilogue(bias + Σ over taps (i, j) of W[:, :, i, j] · X shifted by (i, j)).
///
/// X is copied once into a zero-padded [C, hp, wp] buffer. Output row oy, column ox of tap (i, j) reads padded
/// position (oy + i)·wp + ox + j, so over "wide" output columns n = oy·wp + ox each tap's B operand is the padded
/// buffer offset by i·wp + j with row stride hp·wp: one plain sgemm per tap, accumulating (beta = 1) into a wide
/// [M, oh·wp] result whose columns ox ≥ ow are discarded. Column blocks sized to keep the result block in L2 are
/// spread over `KernelConfig.threads`.
func tapSumConv2d(
    _ p: Conv2DParams, x: UnsafePointer<Float>, tapWeights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    epilogue: (code: Int32, a: Float, b: Float), y: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>
) {
    let (c, m, kh, kw) = (p.inChannels, p.outChannels, p.kernelHeight, p.kernelWidth)
    let (h, w, oh, ow) = (p.inHeight, p.inWidth, p.outHeight, p.outWidth)
    let hp = h + p.padTop + p.padBottom, wp = w + p.padLeft + p.padRight
    let planeStride = hp * wp + kw  // the last wide columns of the last tap read up to kw - 1 floats past a plane
    let taps = kh * kw
    let wideCount = oh * wp
    // Workspace (pooled by the caller, so no fresh pages to fault in per call): padded input, then the wide result.
    let padded = workspace
    let wide = workspace + tapSumPaddedCount(p)
    parallelFor(c, minChunk: max(1, 16_384 / max(1, planeStride))) { range in
        for ch in range {
            let dst = padded + ch * planeStride
            dst.initialize(repeating: 0, count: planeStride)
            for r in 0..<h { (dst + (r + p.padTop) * wp + p.padLeft).update(from: x + (ch * h + r) * w, count: w) }
        }
    }
    // ~256 KB of result per block (L2-resident across the taps), a multiple of 16 columns.
    let blockColumns = max(64, min(wideCount, (65_536 / max(1, m) + 15) / 16 * 16))
    let blocks = (wideCount + blockColumns - 1) / blockColumns
    let threads = KernelConfig.threads
    if blocks < threads && m >= 16 * threads {
        // Fewer column blocks than threads (deep layers, e.g. yolov8n's 20×20 and 10×10 maps with 128-256 channels
        // fit in one block, which left the second core idle): each thread takes a fixed range of output channels
        // through all taps, then copies its own rows out.
        parallelFor(threads) { range in
            for piece in range {
                let m0 = ConvSplit.bound(piece, of: m, pieces: threads, multiple: 8)
                let rows = ConvSplit.bound(piece + 1, of: m, pieces: threads, multiple: 8) - m0
                guard rows > 0 else { continue }
                for t in 0..<taps {
                    let (i, j) = (t / kw, t % kw)
                    sgemmSerial(transA: false, transB: false, m: rows, n: wideCount, k: c,
                                a: tapWeights + t * m * c + m0 * c, lda: c, b: padded + i * wp + j, ldb: planeStride,
                                beta: t == 0 ? 0 : 1, c: wide + m0 * wideCount, ldc: wideCount)
                }
                for mi in m0..<(m0 + rows) {
                    mcc_copy_bias_activation(wide + mi * wideCount, wp, y + mi * oh * ow, ow, oh, ow, bias?[mi] ?? 0,
                                             epilogue.code, epilogue.a, epilogue.b)
                }
            }
        }
        return
    }
    parallelFor(blocks) { range in
        for block in range {
            let n0 = block * blockColumns, count = min(blockColumns, wideCount - n0)
            for t in 0..<taps {
                let (i, j) = (t / kw, t % kw)
                sgemmSerial(transA: false, transB: false, m: m, n: count, k: c, a: tapWeights + t * m * c, lda: c,
                            b: padded + i * wp + j + n0, ldb: planeStride, beta: t == 0 ? 0 : 1,
                            c: wide + n0, ldc: wideCount)
            }
        }
    }
    // The valid columns of each wide row go to y with bias and activation in the same pass.
    parallelFor(m, minChunk: max(1, 16_384 / max(1, oh * ow))) { range in
        for mi in range {
            mcc_copy_bias_activation(wide + mi * wideCount, wp, y + mi * oh * ow, ow, oh, ow, bias?[mi] ?? 0,
                                     epilogue.code, epilogue.a, epilogue.b)
        }
    }
}

/// Valid output-column range [lo, hi) for which `o·stride + offset` lands in [0, size).
@inline(__always)
func validRange(offset: Int, stride: Int, size: Int, count: Int) -> (Int, Int) {
    // lo = ceil(-offset / stride), hi = floor((size - 1 - offset) / stride) + 1, both clamped to [0, count].
    let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let last = size - 1 - offset
    let hi = last < 0 ? 0 : last / stride + 1
    return (min(lo, count), max(min(lo, count), min(hi, count)))
}

/// Writes `bias[c]` over each output plane so sgemm can accumulate onto it (beta = 1) instead of a separate
/// read-modify-write pass; returns the beta to use (0 without bias: C is then not read).
func fillBias(_ y: UnsafeMutablePointer<Float>, channels: Int, spatial: Int, _ bias: UnsafePointer<Float>?) -> Float {
    guard let bias else { return 0 }
    for c in 0..<channels { (y + c * spatial).update(repeating: bias[c], count: spatial) }
    return 1
}

/// Fills the column matrix for output positions [start, start+count) of one group: row r = (c, kh, kw) holds the
/// input pixel each output position sees through tap (kh, kw) of channel c, or 0 in the padding. Row stride = count.
func im2col(_ p: Conv2DParams, x: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, start: Int, count: Int) {
    parallelFor(p.patchSize, minChunk: max(1, 16_384 / max(1, count))) { range in
        im2colRows(p, x: x, columns: columns, start: start, count: count, rows: range)
    }
}

/// `im2col` on the calling thread.
func im2colSerial(_ p: Conv2DParams, x: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, start: Int, count: Int) {
    im2colRows(p, x: x, columns: columns, start: start, count: count, rows: 0..<p.patchSize)
}

/// Rows `rows` of the column matrix (see `im2col`), by `mcc_im2col` (Sources/CKernels: AVX2/AVX-512 variants).
@inline(__always)
func im2colRows(
    _ p: Conv2DParams, x: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, start: Int, count: Int,
    rows range: Range<Int>
) {
    mcc_im2col(x, p.inHeight, p.inWidth, p.kernelHeight, p.kernelWidth, p.strideH, p.strideW, p.dilationH,
               p.dilationW, p.padTop, p.padLeft, p.outWidth, range.lowerBound, range.upperBound, start, count, columns)
}
