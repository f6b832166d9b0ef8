import IR

/// Colour order of an image input as the compiled model receives it (ModelConverter's `encoding.to`).
public enum ColorEncoding: String, Sendable, CaseIterable, Codable {
    case rgb = "RGB", bgr = "BGR", gray = "GRAY", none = "NONE"

    public init?(name: String) { self.init(rawValue: name.uppercased()) }
}

/// What calibration needs to know about one graph input: its static shape and type, where the image axes are,
/// the colour order images are converted to, and how they are fitted.
public struct CalibrationInput: Sendable {
    public var name: String
    public var shape: [Int]
    public var elementType: ElementType
    /// Letters per axis (`NCHW`, `NHWC`, `NWHC`, ...); nil guesses as ModelConverter does.
    public var layout: String?
    public var encoding: ColorEncoding
    public var resize: ResizeMethod

    public init(name: String, shape: [Int], elementType: ElementType = .float, layout: String? = nil,
                encoding: ColorEncoding = .bgr, resize: ResizeMethod = .resize) {
        self.name = name
        self.shape = shape
        self.elementType = elementType
        self.layout = layout?.uppercased()
        self.encoding = encoding
        self.resize = resize
    }

    /// The layout letters in use: the given one when it fits the rank and names H and W, otherwise
    /// ModelConverter's guess (`utils/layout.py`): leading 1 is N; of three remaining dims, the first being
    /// smallest gives CHW and the last being smallest gives HWC.
    public var resolvedLayout: String? {
        if let layout, layout.count == shape.count, layout.contains("H"), layout.contains("W") { return layout }
        switch shape.count {
        case 4:
            let rest = Array(shape.dropFirst())
            if rest[2] < rest[0] && rest[2] <= rest[1] { return "NHWC" }
            return "NCHW"
        case 3:
            if shape[2] < shape[0] && shape[2] <= shape[1] { return "HWC" }
            return "CHW"
        case 2: return "HW"
        default: return nil
        }
    }

    /// Height, width and channel count of an image for this input, with the axis of each in `shape`.
    func imageGeometry() throws -> (height: Int, width: Int, channels: Int, axes: (h: Int, w: Int, c: Int?)) {
        guard let layout = resolvedLayout, let h = layout.firstIndex(of: "H"), let w = layout.firstIndex(of: "W") else {
            throw MCCError.usage("input '\(name)' with shape \(shape) is not an image; calibrate it with .npy or .raw files")
        }
        let hi = layout.distance(from: layout.startIndex, to: h), wi = layout.distance(from: layout.startIndex, to: w)
        let ci = layout.firstIndex(of: "C").map { layout.distance(from: layout.startIndex, to: $0) }
        let channels = ci.map { shape[$0] } ?? 1
        for (axis, letter) in zip(layout.indices.map { layout.distance(from: layout.startIndex, to: $0) }, layout)
        where letter != "H" && letter != "W" && letter != "C" && shape[axis] != 1 {
            throw MCCError.usage("input '\(name)' has \(letter)=\(shape[axis]) in layout \(layout); image calibration needs batch 1")
        }
        return (shape[hi], shape[wi], channels, (hi, wi, ci))
    }

    /// The tensor ModelConverter feeds for `image` (already in this input's encoding): pixel values 0...255 as
    /// float (or the input's integer type), laid out as `shape` says.
    func tensor(from image: Image8, label: String) throws -> Tensor {
        let geometry = try imageGeometry()
        let wanted = encoding == .gray ? 1 : 3
        guard geometry.channels == wanted || (encoding == .none && (geometry.channels == 1 || geometry.channels == 3)) else {
            throw MCCError.usage("input '\(name)' has \(geometry.channels) channels but \(encoding.rawValue) images have \(wanted); set its encoding or calibrate with .npy files")
        }
        var picture = encoding == .bgr ? image.reversingChannels() : image
        if geometry.channels == 1 && picture.channels == 3 { picture = picture.luma() }
        let fitted = resize.apply(picture, width: geometry.width, height: geometry.height)
        let count = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        // Strides of `shape` (row-major).
        var strides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        let cs = geometry.axes.c.map { strides[$0] } ?? 0
        let hs = strides[geometry.axes.h], ws = strides[geometry.axes.w]
        for y in 0..<fitted.height {
            for x in 0..<fitted.width {
                for c in 0..<fitted.channels {
                    values[y * hs + x * ws + c * cs] = Float(fitted.pixels[(y * fitted.width + x) * fitted.channels + c])
                }
            }
        }
        return try Self.cast(Tensor(floats: values, shape: shape), to: elementType, input: name, label: label)
    }

    /// Converts float pixel data to the input's type (uint8/int8/float16/... inputs).
    static func cast(_ tensor: Tensor, to type: ElementType, input: String, label: String) throws -> Tensor {
        if type == .float { return tensor }
        let v = tensor.floatValues()
        switch type {
        case .uint8: return Tensor(.uint8, shape: tensor.shape, values: v.map { UInt8(max(0, min(255, $0))) })
        case .float16: return Tensor(.float16, shape: tensor.shape, values: v.map { Float16($0).bitPattern })
        case .double: return Tensor(.double, shape: tensor.shape, values: v.map { Double($0) })
        default:
            throw MCCError.usage("input '\(input)' is \(type); images (\(label)) calibrate float or 8-bit inputs only")
        }
    }
}
