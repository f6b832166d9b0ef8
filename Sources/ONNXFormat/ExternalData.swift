import IR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves `external_data` entries of TensorProtos to views into memory-mapped files beside the model. Each file
/// is mapped once; tensors keep their file's mapping alive. Locations may not leave the model's directory.
final class ExternalDataResolver {
    let label: String
    let baseDirectory: String
    private var files: [String: MappedFile] = [:]
    private lazy var realBase: String? = realPath(baseDirectory)

    init(label: String, baseDirectory: String) {
        self.label = label
        self.baseDirectory = baseDirectory
    }

    func storage(for entries: [(String, String)], expectedByteCount: Int, what: String) throws -> TensorStorage {
        func fail(_ message: String) -> MCCError { MCCError.failure("\(label): \(what): external data \(message)") }
        var location: String?
        var offset = 0
        var length: Int?
        for (key, value) in entries {
            switch key {
            case "location": location = value
            case "offset":
                guard let v = Int(value), v >= 0 else { throw fail("has invalid offset '\(value)'") }
                offset = v
            case "length":
                guard let v = Int(value), v >= 0 else { throw fail("has invalid length '\(value)'") }
                length = v
            default: break  // checksum and future keys are advisory
            }
        }
        guard let location, !location.isEmpty else { throw fail("has no location") }
        let file = try mappedFile(location, fail: fail)
        let size = file.bytes.count
        guard offset <= size else { throw fail("offset \(offset) is past the end of '\(location)' (\(size) bytes)") }
        let count = length ?? (size - offset)
        guard count <= size - offset else {
            throw fail("offset \(offset) + length \(count) is past the end of '\(location)' (\(size) bytes)")
        }
        guard count == expectedByteCount else {
            throw fail("length \(count) does not match the \(expectedByteCount) bytes its type and dims need")
        }
        guard count > 0, let base = file.bytes.baseAddress else { return TensorStorage(zeroed: 0) }
        return TensorStorage(viewing: UnsafeRawBufferPointer(start: base + offset, count: count), owner: file)
    }

    private func mappedFile(_ location: String, fail: (String) -> MCCError) throws -> MappedFile {
        guard !location.hasPrefix("/"), !location.hasPrefix("\\"), !(location.dropFirst().first == ":") else {
            throw fail("location '\(location)' is an absolute path (path traversal)")
        }
        let components = location.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        guard !components.contains("..") else { throw fail("location '\(location)' leaves the model directory (path traversal)") }
        let path = baseDirectory == "/" ? "/\(location)" : "\(baseDirectory)/\(location)"
        guard let real = realPath(path) else { throw fail("file '\(location)' cannot be opened") }
        guard let realBase, real.hasPrefix(realBase == "/" ? "/" : realBase + "/") else {
            throw fail("location '\(location)' resolves outside the model directory (path traversal)")
        }
        if let cached = files[real] { return cached }
        do {
            let file = try MappedFile(path: real)
            files[real] = file
            return file
        } catch let error as MCCError {
            throw fail("file '\(location)': \(error.message)")
        }
    }
}

/// The canonical absolute path (symlinks resolved), or nil if it does not exist.
func realPath(_ path: String) -> String? {
    guard let p = realpath(path, nil) else { return nil }
    defer { free(p) }
    return String(cString: p)
}
