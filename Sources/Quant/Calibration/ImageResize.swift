import Foundation

/// How a calibration image is fitted to the input's height and width, as ModelConverter defines it
/// (`calibration.resize_method`; docs/modelconverter.md §1.3):
/// - `resize`: stretch to W×H (PIL `Image.resize`, bicubic);
/// - `crop`: center crop to W×H without scaling (PIL `crop`; areas outside a smaller image are black);
/// - `pad`: letterbox — scale to fit inside W×H keeping the aspect ratio (bicubic), centered on black.
public enum ResizeMethod: String, Sendable, CaseIterable, Codable {
    case resize = "RESIZE", crop = "CROP", pad = "PAD"

    public init?(name: String) { self.init(rawValue: name.uppercased()) }

    public func apply(_ image: Image8, width: Int, height: Int) -> Image8 {
        switch self {
        case .resize:
            return PILResample.bicubic(image, width: width, height: height)
        case .crop:
            // PIL: left = int(w/2 - W/2) truncating toward zero, then crop((left, upper, left + W, upper + H)).
            let left = Int(Double(image.width) / 2 - Double(width) / 2)
            let upper = Int(Double(image.height) / 2 - Double(height) / 2)
            return image.cropped(left: left, top: upper, width: width, height: height)
        case .pad:
            let fitWidth: Int, fitHeight: Int
            if Double(image.width) / Double(image.height) > Double(width) / Double(height) {
                fitWidth = width
                fitHeight = max(1, pythonRound(Double(image.height) * (Double(width) / Double(image.width))))
            } else {
                fitHeight = height
                fitWidth = max(1, pythonRound(Double(image.width) * (Double(height) / Double(image.height))))
            }
            let resized = PILResample.bicubic(image, width: fitWidth, height: fitHeight)
            var canvas = Image8(width: width, height: height, channels: image.channels)
            canvas.paste(resized, left: (width - fitWidth) / 2, top: (height - fitHeight) / 2)
            return canvas
        }
    }
}

/// Python's `round()` (half to even).
func pythonRound(_ x: Double) -> Int { Int(x.rounded(.toNearestOrEven)) }

extension Image8 {
    /// The W×H window at (`left`, `top`); pixels outside the image are black (PIL `crop`).
    func cropped(left: Int, top: Int, width w: Int, height h: Int) -> Image8 {
        var out = Image8(width: w, height: h, channels: channels)
        for y in 0..<h {
            let sy = y + top
            guard sy >= 0, sy < height else { continue }
            for x in 0..<w {
                let sx = x + left
                guard sx >= 0, sx < width else { continue }
                for c in 0..<channels { out.pixels[(y * w + x) * channels + c] = pixels[(sy * width + sx) * channels + c] }
            }
        }
        return out
    }

    /// Copies `other` onto this image with its top-left corner at (`left`, `top`), clipped to the canvas.
    mutating func paste(_ other: Image8, left: Int, top: Int) {
        for y in 0..<other.height {
            let dy = y + top
            guard dy >= 0, dy < height else { continue }
            for x in 0..<other.width {
                let dx = x + left
                guard dx >= 0, dx < width else { continue }
                for c in 0..<channels { pixels[(dy * width + dx) * channels + c] = other.pixels[(y * other.width + x) * channels + c] }
            }
        }
    }
}

/// Pillow's separable convolution resampling (libImaging/Resample.c) for 8-bit images: per output pixel a filter
/// window scaled by the reduction factor (antialiasing when shrinking), weights normalized and converted to 22-bit
/// fixed point, one pass per axis into an 8-bit intermediate, each rounding and clamping. Following it step by step
/// makes calibration inputs match ModelConverter's PIL preprocessing value for value.
///
/// Pass order: Resample.c runs the horizontal pass first, but current Pillow (13.0, checked against it on random
/// sizes) runs the vertical pass first when the height shrinks by more than twice as many pixels as the width does
/// (H_in − H_out > 2·(W_in − W_out), H shrinking); the order changes rounding by at most one level, so it is copied.
enum PILResample {
    static let precisionBits = 32 - 8 - 2

    /// Pillow's bicubic kernel (a = -0.5), support 2.
    static func bicubicFilter(_ t: Double) -> Double {
        let a = -0.5
        let x = abs(t)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Window start and fixed-point weights of every output position along one axis.
    struct Coefficients {
        var windowSize: Int
        var starts: [Int]
        var lengths: [Int]
        var weights: [Int32]
    }

    static func coefficients(inSize: Int, outSize: Int) -> Coefficients {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 2.0 * filterScale
        let windowSize = Int(support.rounded(.up)) * 2 + 1
        var starts = [Int](repeating: 0, count: outSize), lengths = starts
        var weights = [Int32](repeating: 0, count: outSize * windowSize)
        var k = [Double](repeating: 0, count: windowSize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let inverse = 1 / filterScale
            var xmin = Int(center - support + 0.5)  // C cast: truncation toward zero
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var total = 0.0
            for x in 0..<windowSize { k[x] = 0 }
            for x in 0..<max(xmax, 0) {
                let w = bicubicFilter((Double(x + xmin) - center + 0.5) * inverse)
                k[x] = w
                total += w
            }
            for x in 0..<max(xmax, 0) where total != 0 { k[x] /= total }
            for x in 0..<windowSize {
                let v = k[x] * Double(1 << precisionBits)
                weights[xx * windowSize + x] = Int32(v < 0 ? (-0.5 + v).rounded(.towardZero) : (0.5 + v).rounded(.towardZero))
            }
            starts[xx] = xmin
            lengths[xx] = max(xmax, 0)
        }
        return Coefficients(windowSize: windowSize, starts: starts, lengths: lengths, weights: weights)
    }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        if v >= Int32((1 << precisionBits) << 8) { return 255 }
        if v <= 0 { return 0 }
        return UInt8(v >> Int32(precisionBits))
    }

    /// `Image.resize((width, height), Image.BICUBIC)`.
    static func bicubic(_ image: Image8, width: Int, height: Int) -> Image8 {
        guard width != image.width || height != image.height else { return image }
        if width != image.width, height < image.height, image.height - height > 2 * (image.width - width) {
            // Vertical first: resample columns to the new height, then rows to the new width.
            let tall = bicubic(image, width: image.width, height: height)
            return bicubic(tall, width: width, height: height)
        }
        let channels = image.channels
        let horizontal = coefficients(inSize: image.width, outSize: width)
        var vertical = coefficients(inSize: image.height, outSize: height)
        var source = image
        if width != image.width {
            // Only the rows the vertical pass reads are resampled horizontally.
            let first = vertical.starts[0]
            let last = vertical.starts[height - 1] + vertical.lengths[height - 1]
            if height != image.height {
                for i in 0..<height { vertical.starts[i] -= first }
            }
            let rowFirst = height != image.height ? first : 0
            let rows = height != image.height ? last - first : image.height
            var temp = Image8(width: width, height: rows, channels: channels)
            let half = Int32(1 << (precisionBits - 1))
            for y in 0..<rows {
                let srcRow = (y + rowFirst) * image.width * channels
                for xx in 0..<width {
                    let start = horizontal.starts[xx], n = horizontal.lengths[xx]
                    let wBase = xx * horizontal.windowSize
                    for c in 0..<channels {
                        var acc = half
                        for x in 0..<n {
                            acc &+= Int32(image.pixels[srcRow + (x + start) * channels + c]) &* horizontal.weights[wBase + x]
                        }
                        temp.pixels[(y * width + xx) * channels + c] = clip8(acc)
                    }
                }
            }
            source = temp
        }
        guard height != image.height else { return source }
        var out = Image8(width: width, height: height, channels: channels)
        let half = Int32(1 << (precisionBits - 1))
        for yy in 0..<height {
            let start = vertical.starts[yy], n = vertical.lengths[yy]
            let wBase = yy * vertical.windowSize
            for xx in 0..<width {
                for c in 0..<channels {
                    var acc = half
                    for y in 0..<n {
                        acc &+= Int32(source.pixels[((y + start) * width + xx) * channels + c]) &* vertical.weights[wBase + y]
                    }
                    out.pixels[(yy * width + xx) * channels + c] = clip8(acc)
                }
            }
        }
        return out
    }
}
