/// Shape and attributes of a 2-D transposed convolution (ONNX ConvTranspose).
///
/// Layouts: input [N, C, H, W], weight [C, M/groups, kH, kW], bias [M], output [N, M, outH, outW]. Pads are
/// (top, left, bottom, right); a caller holding an explicit `output_shape` converts it to pads first.
public struct ConvTranspose2DParams: Sendable, Equatable {
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
    public var outputPaddingH = 0, outputPaddingW = 0
    public var groups = 1

    public init(
        batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int,
        kernelHeight: Int, kernelWidth: Int, strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
        pads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0), outputPadding: (Int, Int) = (0, 0),
        groups: Int = 1
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
        (outputPaddingH, outputPaddingW) = outputPadding
        self.groups = groups
    }

    public var outHeight: Int {
        max(0, strideH * (inHeight - 1) + outputPaddingH + (kernelHeight - 1) * dilationH + 1 - padTop - padBottom)
    }
    public var outWidth: Int {
        max(0, strideW * (inWidth - 1) + outputPaddingW + (kernelWidth - 1) * dilationW + 1 - padLeft - padRight)
    }
}

/// Transposed convolution: per image and group, `cols = Wᵀ · x` (sgemm, [M/g·kH·kW, H·W] in column tiles) and then
/// col2im scatters-adds each column into the output, which starts as the bias. Parallel over output channels, so
/// no two threads write the same plane. `activation` is applied at the end.
public func convTranspose2d(
    _ p: ConvTranspose2DParams, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    activation: UnaryOp = .identity, y: UnsafeMutablePointer<Float>
) {
    precondition(p.groups > 0 && p.inChannels % p.groups == 0 && p.outChannels % p.groups == 0,
                 "convTranspose2d: bad groups")
    precondition(p.strideH > 0 && p.strideW > 0 && p.dilationH > 0 && p.dilationW > 0, "convTranspose2d: bad stride")
    let oh = p.outHeight, ow = p.outWidth
    let outPlane = oh * ow, inPlane = p.inHeight * p.inWidth
    guard outPlane > 0, p.batch > 0, p.outChannels > 0 else { return }
    let cg = p.inChannels / p.groups, mg = p.outChannels / p.groups
    let kk = p.kernelHeight * p.kernelWidth
    let rows = mg * kk
    let tile = max(1, min(inPlane, max(16, im2colBudgetBytes / (4 * max(1, rows)))))
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: rows * tile)
    defer { cols.deallocate() }

    for n in 0..<p.batch {
        let yn = y + n * p.outChannels * outPlane
        for m in 0..<p.outChannels {
            (yn + m * outPlane).update(repeating: bias?[m] ?? 0, count: outPlane)
        }
        guard inPlane > 0 else { continue }
        for g in 0..<p.groups {
            let xg = x + (n * p.inChannels + g * cg) * inPlane
            let yg = yn + g * mg * outPlane
            var start = 0
            while start < inPlane {
                let count = min(tile, inPlane - start)
                // Weight group g is stored [cg, mg·kk]; its transpose maps input channels to (m, kh, kw) rows.
                sgemm(transA: true, transB: false, m: rows, n: count, k: cg,
                      a: weight + g * cg * rows, lda: rows, b: xg + start, ldb: inPlane,
                      c: cols, ldc: count)
                col2im(p, cols: cols, start: start, count: count, channels: mg, y: yg)
                start += count
            }
        }
        if activation != .identity {
            unary(activation, x: yn, y: yn, count: p.outChannels * outPlane)
        }
    }
}

/// Adds column block [start, start+count) of input positions back into `channels` output planes.
func col2im(
    _ p: ConvTranspose2DParams, cols: UnsafePointer<Float>, start: Int, count: Int, channels: Int,
    y: UnsafeMutablePointer<Float>
) {
    let kh = p.kernelHeight, kw = p.kernelWidth, w = p.inWidth
    let oh = p.outHeight, ow = p.outWidth
    // Kernel width 2 at stride 2 (the usual 2× upsampler): taps j = 0, 1 fill alternate output columns of
    // the whole row, so both are added in one interleaving pass instead of two stride-2 scatters.
    let pairedTaps = kw == 2 && p.strideW == 2 && p.dilationW == 1 && p.padLeft == 0 && ow >= 2 * w
    parallelFor(channels) { range in
        for m in range {
            let plane = y + m * oh * ow
            for i in 0..<kh {
                if pairedTaps {
                    let src = cols + (m * kh + i) * kw * count
                    var pos = start
                    let end = start + count
                    while pos < end {
                        let iy = pos / w
                        let ix0 = pos - iy * w
                        let ix1 = min(w, ix0 + (end - pos))
                        let oy = iy * p.strideH - p.padTop + i * p.dilationH
                        if oy >= 0 && oy < oh {
                            let s0 = src + (pos - start - ix0)
                            addInterleaved(plane + oy * ow, s0, s0 + count, from: ix0, to: ix1)
                        }
                        pos += ix1 - ix0
                    }
                    continue
                }
                for j in 0..<kw {
                    let src = cols + ((m * kh + i) * kw + j) * count
                    let colOffset = j * p.dilationW - p.padLeft
                    let (iwLo, iwHi) = validRange(offset: colOffset, stride: p.strideW, size: ow, count: w)
                    var pos = start
                    let end = start + count
                    while pos < end {
                        let iy = pos / w
                        let ix0 = pos - iy * w
                        let ix1 = min(w, ix0 + (end - pos))
                        let oy = iy * p.strideH - p.padTop + i * p.dilationH
                        if oy >= 0 && oy < oh {
                            let dst = plane + oy * ow
                            let s = src + (pos - start - ix0)
                            let a = max(ix0, iwLo), b = min(ix1, iwHi)
                            if a < b {
                                var ox = a * p.strideW + colOffset
                                for ix in a..<b {
                                    dst[ox] += s[ix]
                                    ox += p.strideW
                                }
                            }
                        }
                        pos += ix1 - ix0
                    }
                }
            }
        }
    }
}

/// `dst[2i] += a[i]; dst[2i + 1] += b[i]` for i in [lo, hi), four pairs per step.
@inline(__always)
func addInterleaved(
    _ dst: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, from lo: Int, to hi: Int
) {
    var i = lo
    while i + 4 <= hi {
        let u = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD4<Float>.self)
        let v = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD4<Float>.self)
        let d = UnsafeMutableRawPointer(dst + 2 * i)
        let first = d.loadUnaligned(as: SIMD4<Float>.self) + SIMD4(u[0], v[0], u[1], v[1])
        let second = (d + 16).loadUnaligned(as: SIMD4<Float>.self) + SIMD4(u[2], v[2], u[3], v[3])
        d.storeBytes(of: first, as: SIMD4<Float>.self)
        (d + 16).storeBytes(of: second, as: SIMD4<Float>.self)
        i += 4
    }
    while i < hi {
        dst[2 * i] += a[i]
        dst[2 * i + 1] += b[i]
        i += 1
    }
}
