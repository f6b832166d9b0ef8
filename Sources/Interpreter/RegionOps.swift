import Foundation
import IR

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
