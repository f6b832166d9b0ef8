import Foundation
import IR

/// Region and sampling ops: RoiAlign, Col2Im, AffineGrid.
///
/// RoiAlign on float32 NCHW features, as onnxruntime and the onnx reference compute it.
///
/// Each ROI (x1, y1, x2, y2, scaled by spatial_scale; half_pixel shifts by -0.5, output_half_pixel — opset 10's only
/// behaviour — instead forces a size of at least 1) is split into output_height × output_width bins, each sampled on
/// a grid of sampling_ratio² points (⌈roi size / output size⌉ per axis when 0). Samples are bilinear, clamped at the
/// far edges, and zero more than one pixel outside the image. avg averages the samples; max takes, per sample, the
/// largest of the four weighted corner values and the maximum of those over the bin.
func registerRegionOps(_ r: inout OpRegistry) {
    r.registerPromoting("RoiAlign") { ctx in [try roiAlign(ctx)] }
}

private func roiAlign(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "X"), rois = try ctx.floatInput(1, "rois"), batchIndices = try ctx.input(2)
    guard x.rank == 4 else { throw ctx.failure("X must be 4-D [N, C, H, W], got \(x.shape)") }
    guard rois.rank == 2, rois.shape[1] == 4 else { throw ctx.failure("rois must be [num_rois, 4], got \(rois.shape)") }
    let count = rois.shape[0]
    guard batchIndices.elementType.isInteger, batchIndices.elementCount == count else {
        throw ctx.failure("batch_indices must be \(count) integers")
    }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (outH, outW) = (ctx.int("output_height", default: 1), ctx.int("output_width", default: 1))
    guard outH > 0, outW > 0 else { throw ctx.failure("output size \(outH)x\(outW) must be positive") }
    let samplingRatio = ctx.int("sampling_ratio", default: 0)
    guard samplingRatio >= 0 else { throw ctx.failure("sampling_ratio \(samplingRatio) must not be negative") }
    let scale = ctx.float("spatial_scale", default: 1)
    let modeName = ctx.string("mode", default: "avg")
    guard modeName == "avg" || modeName == "max" else { throw ctx.failure("unknown mode '\(modeName)'") }
    let transform = ctx.opset >= 16 ? ctx.string("coordinate_transformation_mode", default: "half_pixel") : "output_half_pixel"
    guard transform == "half_pixel" || transform == "output_half_pixel" else {
        throw ctx.failure("unknown coordinate_transformation_mode '\(transform)'")
    }
    let halfPixel = transform == "half_pixel"
    let boxes = rois.floatValues(), images = batchIndices.int64Values(), values = x.floatValues()
    var result = [Float](repeating: 0, count: count * c * outH * outW)
    for roi in 0..<count {
        let image = Int(images[roi])
        guard image >= 0, image < n else { throw ctx.failure("batch index \(image) out of range for \(n) images") }
        let offset: Float = halfPixel ? 0.5 : 0
        let startW = boxes[roi * 4] * scale - offset, startH = boxes[roi * 4 + 1] * scale - offset
        var roiW = boxes[roi * 4 + 2] * scale - offset - startW, roiH = boxes[roi * 4 + 3] * scale - offset - startH
        if !halfPixel {
            roiW = max(roiW, 1)
            roiH = max(roiH, 1)
        }
        let binH = roiH / Float(outH), binW = roiW / Float(outW)
        let gridH = samplingRatio > 0 ? samplingRatio : Int((roiH / Float(outH)).rounded(.up))
        let gridW = samplingRatio > 0 ? samplingRatio : Int((roiW / Float(outW)).rounded(.up))
        let samples = max(gridH * gridW, 1)
        for ch in 0..<c {
            let plane = (image * c + ch) * h * w
            for ph in 0..<outH {
                for pw in 0..<outW {
                    var sum: Float = 0, best: Float? = nil
                    for iy in 0..<max(gridH, 0) {
                        let yy = startH + Float(ph) * binH + (Float(iy) + 0.5) * binH / Float(gridH)
                        for ix in 0..<max(gridW, 0) {
                            let xx = startW + Float(pw) * binW + (Float(ix) + 0.5) * binW / Float(gridW)
                            let corners = bilinearCorners(yy, xx, h, w)
                            var taps: [Float] = [0, 0, 0, 0]
                            for (k, (index, weight)) in corners.enumerated() { taps[k] = weight * values[plane + index] }
                            if modeName == "avg" {
                                sum += taps[0] + taps[1] + taps[2] + taps[3]
                            } else {
                                let v = max(max(max(taps[0], taps[1]), taps[2]), taps[3])
                                best = best.map { max($0, v) } ?? v
                            }
                        }
                    }
                    result[((roi * c + ch) * outH + ph) * outW + pw] = modeName == "avg" ? sum / Float(samples) : (best ?? 0)
                }
            }
        }
    }
    return Tensor(floats: result, shape: [count, c, outH, outW])
}

/// The four (flat index, weight) corners of a bilinear sample at (y, x); all weights 0 more than a pixel outside.
private func bilinearCorners(_ yIn: Float, _ xIn: Float, _ h: Int, _ w: Int) -> [(Int, Float)] {
    if yIn < -1 || yIn > Float(h) || xIn < -1 || xIn > Float(w) || h == 0 || w == 0 {
        return [(0, 0), (0, 0), (0, 0), (0, 0)]
    }
    var y = max(yIn, 0), x = max(xIn, 0)
    var yLow = Int(y), xLow = Int(x)
    let yHigh: Int, xHigh: Int
    if yLow >= h - 1 {
        yLow = h - 1
        yHigh = h - 1
        y = Float(yLow)
    } else {
        yHigh = yLow + 1
    }
    if xLow >= w - 1 {
        xLow = w - 1
        xHigh = w - 1
        x = Float(xLow)
    } else {
        xHigh = xLow + 1
    }
    let ly = y - Float(yLow), lx = x - Float(xLow), hy = 1 - ly, hx = 1 - lx
    return [(yLow * w + xLow, hy * hx), (yLow * w + xHigh, hy * lx), (yHigh * w + xLow, ly * hx), (yHigh * w + xHigh, ly * lx)]
}

/// Col2Im: the adjoint of im2col. Input [N, C·∏block, L] holds, per block offset and sliding-window position, one
/// value to add into the image [N, C, image_shape...] at position·stride - pad_begin + offset·dilation.
func registerCol2ImOps(_ r: inout OpRegistry) {
    r.registerPromoting("Col2Im") { ctx in
        let x = try ctx.floatInput(0, "input")
        let image = try indexValues(try ctx.input(1), ctx: ctx), block = try indexValues(try ctx.input(2), ctx: ctx)
        let rank = image.count
        guard rank > 0, block.count == rank, x.rank == 3 else {
            throw ctx.failure("image_shape \(image) and block_shape \(block) must have the same positive length; input must be 3-D")
        }
        guard image.allSatisfy({ $0 >= 0 }), block.allSatisfy({ $0 > 0 }) else { throw ctx.failure("invalid image or block shape") }
        func list(_ name: String, _ count: Int, _ fallback: Int) throws -> [Int] {
            let v = ctx.ints(name) ?? Array(repeating: fallback, count: count)
            guard v.count == count else { throw ctx.failure("\(name) must have \(count) values") }
            return v
        }
        let dilations = try list("dilations", rank, 1), strides = try list("strides", rank, 1)
        let pads = try list("pads", 2 * rank, 0)
        guard dilations.allSatisfy({ $0 > 0 }), strides.allSatisfy({ $0 > 0 }), pads.allSatisfy({ $0 >= 0 }) else {
            throw ctx.failure("dilations and strides must be positive, pads non-negative")
        }
        var grid: [Int] = []
        for a in 0..<rank {
            let span = image[a] + pads[a] + pads[a + rank] - (dilations[a] * (block[a] - 1) + 1)
            guard span >= 0 else { throw ctx.failure("block \(block) does not fit the padded image \(image)") }
            grid.append(span / strides[a] + 1)
        }
        let blockSize = block.reduce(1, *), positions = grid.reduce(1, *)
        guard x.shape[1] % blockSize == 0, x.shape[2] == positions else {
            throw ctx.failure("input \(x.shape) does not match block \(block) and \(positions) positions")
        }
        let (n, c) = (x.shape[0], x.shape[1] / blockSize)
        let geometry = SpatialGeometry(input: image, kernel: block, strides: strides, dilations: dilations,
                                       padBegin: Array(pads[..<rank]), output: grid)
        let table = TapTable(geometry)
        let plane = image.reduce(1, *)
        let y = try ctx.allocateZeroed(.float, [n, c] + image)
        let out = y.mutableFloats
        x.withFloats { xp in
            for img in 0..<n {
                for ch in 0..<c {
                    let dst = out + (img * c + ch) * plane
                    let src = xp + (img * c + ch) * blockSize * positions
                    for position in 0..<positions {
                        for e in table.start[position]..<table.start[position + 1] {
                            dst[table.inputOffset[e]] += src[table.tap[e] * positions + position]
                        }
                    }
                }
            }
        }
        return [y]
    }
    r.registerPromoting("AffineGrid") { ctx in [try affineGrid(ctx)] }
}

/// AffineGrid: normalised sampling coordinates theta · (x, y[, z], 1) over a base grid in [-1, 1] (pixel centres
/// unless align_corners), shaped [N, H, W, 2] or [N, D, H, W, 3].
private func affineGrid(_ ctx: OpContext) throws -> Tensor {
    let theta = try ctx.floatInput(0, "theta")
    let size = try indexValues(try ctx.input(1), ctx: ctx)
    guard size.count == 4 || size.count == 5, size.allSatisfy({ $0 >= 0 }) else { throw ctx.failure("size must list 4 or 5 dims") }
    let spatial = Array(size[2...])
    let dims = spatial.count
    let n = size[0]
    guard theta.shape == [n, dims, dims + 1] else { throw ctx.failure("theta \(theta.shape) must be [\(n), \(dims), \(dims + 1)]") }
    let alignCorners = ctx.int("align_corners", default: 0) != 0
    func base(_ i: Int, _ count: Int) -> Float {
        if alignCorners { return count > 1 ? -1 + 2 * Float(i) / Float(count - 1) : 0 }
        return (2 * Float(i) + 1) / Float(count) - 1
    }
    let t = theta.floatValues()
    let points = spatial.reduce(1, *)
    var result = [Float](repeating: 0, count: n * points * dims)
    for img in 0..<n {
        var index = [Int](repeating: 0, count: dims)
        for p in 0..<points {
            // Coordinates in (x, y[, z]) order: the last spatial axis is x.
            let coordinates = (0..<dims).map { k in base(index[dims - 1 - k], spatial[dims - 1 - k]) } + [1]
            for row in 0..<dims {
                var s: Float = 0
                for k in 0...dims { s += t[(img * dims + row) * (dims + 1) + k] * coordinates[k] }
                result[(img * points + p) * dims + row] = s
            }
            _ = advance(&index, spatial)
        }
    }
    return Tensor(floats: result, shape: [n] + spatial + [dims])
}
