import CJPEG  // brings in libjpeg's link flag for the shim
import CJpegShim
import CPNG
import Foundation
import IR

/// An 8-bit image, row-major, `channels` interleaved bytes per pixel (3 = RGB, 1 = gray).
public struct Image8: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels)
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int, channels: Int) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: 0, count: width * height * channels))
    }
}

/// Decodes calibration images the way PIL's `Image.open(path).convert("RGB")` does: JPEG through libjpeg(-turbo)
/// (bit-identical to PIL), PNG through libpng's simplified API read as RGBA with alpha dropped (PIL drops alpha;
/// libpng's RGB output would composite on black instead). Gray sources come out with R = G = B.
public enum ImageDecoder {
    /// Decodes the file at `path` to RGB. Errors name the file.
    public static func decodeRGB(path: String) throws -> Image8 {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw MCCError.failure("cannot read calibration image \(path): \(error.localizedDescription)")
        }
        return try decodeRGB(data, label: path)
    }

    /// Decodes in-memory JPEG or PNG bytes (recognized by signature); `label` names the source in errors.
    public static func decodeRGB(_ data: Data, label: String) throws -> Image8 {
        let bytes = [UInt8](data.prefix(8))
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            return try decodeJPEG(data, label: label)
        }
        if bytes == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
            return try decodePNG(data, label: label)
        }
        throw MCCError.failure("cannot decode calibration image \(label): not a JPEG or PNG file")
    }

    static func decodeJPEG(_ data: Data, label: String) throws -> Image8 {
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw -> Int32 in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return -1 }
            return message.withUnsafeMutableBufferPointer { m in
                mcc_jpeg_decode_rgb(base, raw.count, &pixels, &width, &height, m.baseAddress, m.count)
            }
        }
        defer { free(pixels) }
        guard status == 0, let pixels, width > 0, height > 0 else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw MCCError.failure("cannot decode JPEG \(label): \(text.isEmpty ? "corrupt data" : text)")
        }
        let count = Int(width) * Int(height) * 3
        return Image8(width: Int(width), height: Int(height), channels: 3,
                      pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    static func decodePNG(_ data: Data, label: String) throws -> Image8 {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { raw -> Int32 in
            png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count)
        }
        guard begun != 0 else { throw pngError(&image, label) }
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // PNG_FORMAT_RGBA
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width * height <= 1 << 28 else {
            png_image_free(&image)
            throw MCCError.failure("cannot decode PNG \(label): unsupported size \(width)x\(height)")
        }
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let finished = data.withUnsafeBytes { _ in
            rgba.withUnsafeMutableBytes { out in png_image_finish_read(&image, nil, out.baseAddress, 0, nil) }
        }
        guard finished != 0 else { throw pngError(&image, label) }
        png_image_free(&image)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        rgba.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                for p in 0..<(width * height) {
                    dst[3 * p] = src[4 * p]
                    dst[3 * p + 1] = src[4 * p + 1]
                    dst[3 * p + 2] = src[4 * p + 2]
                }
            }
        }
        return Image8(width: width, height: height, channels: 3, pixels: rgb)
    }

    private static func pngError(_ image: inout png_image, _ label: String) -> MCCError {
        let message = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        png_image_free(&image)
        return MCCError.failure("cannot decode PNG \(label): \(message.isEmpty ? "corrupt data" : message)")
    }
}

extension Image8 {
    /// Channel-reversed copy (RGB ↔ BGR).
    public func reversingChannels() -> Image8 {
        guard channels == 3 else { return self }
        var out = pixels
        for p in 0..<(width * height) {
            out[3 * p] = pixels[3 * p + 2]
            out[3 * p + 2] = pixels[3 * p]
        }
        return Image8(width: width, height: height, channels: 3, pixels: out)
    }

    /// PIL's `convert("L")`: ITU-R 601-2 luma in 16-bit fixed point, `(19595 R + 38470 G + 7471 B + 2^15) >> 16`.
    public func luma() -> Image8 {
        guard channels == 3 else { return self }
        var out = [UInt8](repeating: 0, count: width * height)
        for p in 0..<(width * height) {
            let r = UInt32(pixels[3 * p]), g = UInt32(pixels[3 * p + 1]), b = UInt32(pixels[3 * p + 2])
            out[p] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
        }
        return Image8(width: width, height: height, channels: 1, pixels: out)
    }
}
