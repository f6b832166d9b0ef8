#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// NumPy `.npy` files (format versions 1–3): the tensor exchange format of `mcc run`, reference data and
/// calibration arrays. Little-endian and byte-typed dtypes only; Fortran order is transposed on read.
public enum NumpyFile {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    private static let descriptors: [(String, ElementType)] = [
        ("f4", .float), ("f8", .double), ("f2", .float16), ("u1", .uint8), ("i1", .int8), ("i2", .int16),
        ("u2", .uint16), ("i4", .int32), ("u4", .uint32), ("i8", .int64), ("u8", .uint64), ("b1", .bool),
        ("c8", .complex64), ("c16", .complex128),
    ]

    /// Reads `path`. Errors name the file and what is wrong with it.
    public static func read(path: String) throws -> Tensor {
        let file = try MappedFile(path: path)
        return try decode(file.bytes, label: path)
    }

    /// Decodes an in-memory `.npy` image; the tensor owns a copy of the data.
    public static func decode(_ bytes: UnsafeRawBufferPointer, label: String) throws -> Tensor {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw MCCError.failure("\(label): not a .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw MCCError.failure("\(label): truncated .npy header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw MCCError.unsupported("\(label): .npy format version \(major) is not supported")
        }
        guard headerStart + headerLength <= bytes.count else { throw MCCError.failure("\(label): truncated .npy header") }
        let header = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[headerStart..<(headerStart + headerLength)]),
                            as: UTF8.self)
        guard let descr = field("descr", in: header).flatMap(unquote) else {
            throw MCCError.failure("\(label): .npy header has no 'descr'")
        }
        let order = descr.first.map { "<|=>".contains($0) } == true ? descr.first : nil
        if order == ">" && !descr.hasSuffix("1") && !descr.hasSuffix("b1") {
            throw MCCError.unsupported("\(label): big-endian .npy data ('\(descr)') is not supported")
        }
        let code = order == nil ? descr : String(descr.dropFirst())
        guard let elementType = descriptors.first(where: { $0.0 == code })?.1 else {
            throw MCCError.unsupported("\(label): .npy dtype '\(descr)' is not supported")
        }
        guard let shapeText = field("shape", in: header) else { throw MCCError.failure("\(label): .npy header has no 'shape'") }
        let shape = try parseShape(shapeText, label: label)
        let fortran = field("fortran_order", in: header)?.hasPrefix("True") ?? false
        guard let count = checkedElementCount(shape), count <= 1 << 40 else {
            throw MCCError.failure("\(label): .npy shape \(shape) is too large")
        }
        let dataStart = headerStart + headerLength
        let byteCount = elementType.byteCount(for: count)
        guard bytes.count - dataStart >= byteCount else {
            throw MCCError.failure("\(label): .npy data is truncated (\(bytes.count - dataStart) of \(byteCount) bytes for shape \(shape))")
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + byteCount)])
        var tensor = Tensor(elementType: elementType, shape: shape, storage: TensorStorage(copying: data))
        if fortran && shape.count > 1 { tensor = transposedFromFortran(tensor) }
        return tensor
    }

    /// Serializes `tensor` as a version 1.0 `.npy` image (header padded to 64 bytes as NumPy does).
    public static func encode(_ tensor: Tensor) throws -> [UInt8] {
        guard let code = descriptors.first(where: { $0.1 == tensor.elementType })?.0 else {
            throw MCCError.unsupported("cannot write \(tensor.elementType) tensors as .npy")
        }
        let endian = tensor.elementType.bitWidth == 8 ? "|" : "<"
        let dims = tensor.shape.map(String.init).joined(separator: ", ") + (tensor.shape.count == 1 ? "," : "")
        var header = "{'descr': '\(endian)\(code)', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        out += Array(header.utf8)
        out += Array(tensor.storage.bytes.prefix(tensor.byteCount))
        return out
    }

    /// Writes `tensor` to `path` (replacing it).
    public static func write(_ tensor: Tensor, to path: String) throws {
        let bytes = try encode(tensor)
        guard let f = fopen(path, "wb") else { throw MCCError.failure("\(path): cannot open for writing") }
        defer { fclose(f) }
        guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw MCCError.failure("\(path): write failed") }
    }

    // MARK: header parsing

    /// The text of `key`'s value in the header dict, up to the next top-level comma.
    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.firstRange(of: "'\(key)'") ?? header.firstRange(of: "\"\(key)\"") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        var depth = 0
        var end = rest.startIndex
        while end < rest.endIndex {
            let c = rest[end]
            if c == "(" { depth += 1 }
            if c == ")" { depth -= 1 }
            if (c == "," && depth == 0) || c == "}" { break }
            end = rest.index(after: end)
        }
        return String(rest[rest.startIndex..<end]).trimmingSpaces()
    }

    private static func unquote(_ s: String) -> String? {
        guard s.count >= 2, let f = s.first, f == "'" || f == "\"", s.last == f else { return nil }
        return String(s.dropFirst().dropLast())
    }

    private static func parseShape(_ text: String, label: String) throws -> [Int] {
        guard text.hasPrefix("("), text.hasSuffix(")") else { throw MCCError.failure("\(label): bad .npy shape '\(text)'") }
        return try text.dropFirst().dropLast().split(separator: ",").compactMap { piece -> Int? in
            let t = String(piece).trimmingSpaces().replacingLongSuffix()
            if t.isEmpty { return nil }
            guard let v = Int(t), v >= 0 else { throw MCCError.failure("\(label): bad .npy dim '\(t)'") }
            return v
        }
    }

    private static func transposedFromFortran(_ tensor: Tensor) -> Tensor {
        let shape = tensor.shape
        let width = tensor.elementType.bitWidth / 8
        let out = Tensor(zeros: tensor.elementType, shape: shape)
        let n = tensor.elementCount
        let rank = shape.count
        var cStrides = [Int](repeating: 1, count: rank)
        var fStrides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { cStrides[a] = cStrides[a + 1] * shape[a + 1] }
        for a in 1..<rank { fStrides[a] = fStrides[a - 1] * shape[a - 1] }
        let src = tensor.storage.baseAddress
        let dst = out.storage.mutableBaseAddress
        for linear in 0..<n {
            var rem = linear, fIndex = 0
            for a in 0..<rank {
                let i = rem / cStrides[a]
                rem -= i * cStrides[a]
                fIndex += i * fStrides[a]
            }
            dst.advanced(by: linear * width).copyMemory(from: src.advanced(by: fIndex * width), byteCount: width)
        }
        return out
    }
}

private extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " { s = s.dropFirst() }
        while let l = s.last, l == " " { s = s.dropLast() }
        return String(s)
    }

    /// Python 2 wrote long ints as `3L`.
    func replacingLongSuffix() -> String { hasSuffix("L") ? String(dropLast()) : self }
}
