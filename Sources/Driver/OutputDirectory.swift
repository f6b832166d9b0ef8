import Foundation
import IR
import ONNXFormat

/// An output directory written atomically: files go to a hidden staging directory beside the destination, which
/// replaces the destination only when everything succeeded. A destination that mcc did not create (no marker
/// file) is never overwritten.
final class OutputDirectory {
    static let markerName = ".mcc-output"

    /// The destination as an absolute, standardized path (what `URL(fileURLWithPath:).standardizedFileURL.path`
    /// gives) and the hidden staging directory beside it.
    let destinationPath: String
    let stagingPath: String
    var staging: URL { URL(fileURLWithPath: stagingPath, isDirectory: true) }
    /// Directories inside the staging directory already created (files are mostly written into a few: an array,
    /// whose type needs no run-time metadata instantiation, unlike a Set<String>).
    private var createdDirectories: [String] = []
    private var committed = false

    /// Checks the destination up front (before any work) and creates the staging directory. Plain POSIX calls and
    /// string paths: FileManager's and URL's first uses instantiate generic metadata, a measurable part of a 20 ms
    /// compile.
    init(path: String) throws {
        destinationPath = Self.standardizedAbsolutePath(path)
        var info = stat()
        if stat(destinationPath, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw MCCError.usage("\(path): exists and is not a directory")
            }
            let marker = destinationPath + "/" + Self.markerName
            guard Self.isEmptyDirectory(destinationPath) || access(marker, F_OK) == 0 else {
                throw MCCError.usage("\(path): directory exists and was not created by mcc; refusing to overwrite it")
            }
        }
        let (parent, name) = Self.split(destinationPath)
        guard Self.makeDirectories(parent) else {
            throw MCCError.failure("\(parent): cannot create directory")
        }
        stagingPath = (parent == "/" ? "" : parent) + "/.\(name).partial-\(getpid())"
        if lstat(stagingPath, &info) == 0 { try? FileManager.default.removeItem(atPath: stagingPath) }
        guard mkdir(stagingPath, 0o777) == 0 else {
            throw MCCError.failure("\(stagingPath): cannot create directory")
        }
        createdDirectories.append(stagingPath)
    }

    /// `URL(fileURLWithPath: path).standardizedFileURL.path`, computed without URL for the common paths: relative
    /// ones resolved against the working directory, "." and ".." segments, repeated and trailing slashes removed.
    /// Paths with anything URL might treat specially (percent signs, "~", non-ASCII, control characters) go to URL.
    static func standardizedAbsolutePath(_ path: String) -> String {
        func viaURL() -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        let plain = !path.isEmpty && path.utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "%") && byte != UInt8(ascii: "~")
                && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: ";") && byte != UInt8(ascii: "?")
                && byte != UInt8(ascii: "#")
        }
        guard plain else { return viaURL() }
        var absolute = path
        if !path.hasPrefix("/") {
            guard let cwd = currentDirectory(), cwd.hasPrefix("/"),
                  cwd.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "%") }) else { return viaURL() }
            absolute = cwd + "/" + path
        }
        // Byte by byte (ASCII checked above): splitting into Substrings and joining them instantiated generic
        // witness tables at run time, ~0.2 ms of every compile.
        var result: [UInt8] = []
        result.reserveCapacity(absolute.utf8.count + 1)
        var segmentStarts: [Int] = []  // where each kept segment's "/" is in `result`
        var bytes = Array(absolute.utf8)
        bytes.append(UInt8(ascii: "/"))
        var start = 0
        for i in bytes.indices where bytes[i] == UInt8(ascii: "/") {
            let length = i - start
            let dot = UInt8(ascii: ".")
            if length == 0 || (length == 1 && bytes[start] == dot) {
                // empty or "." segment
            } else if length == 2 && bytes[start] == dot && bytes[start + 1] == dot {
                if let last = segmentStarts.popLast() { result.removeSubrange(last...) }
            } else {
                segmentStarts.append(result.count)
                result.append(UInt8(ascii: "/"))
                result.append(contentsOf: bytes[start..<i])
            }
            start = i + 1
        }
        return result.isEmpty ? "/" : String(decoding: result, as: UTF8.self)
    }

    private static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(cString: buffer)
    }

    /// An absolute standardized path's parent directory and last component ("/" is the parent of "/name").
    private static func split(_ path: String) -> (parent: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let parent = slash == path.startIndex ? "/" : String(path[..<slash])
        return (parent, String(path[path.index(after: slash)...]))
    }

    /// True when `path` lists no entries besides "." and "..".
    private static func isEmptyDirectory(_ path: String) -> Bool {
        guard let directory = opendir(path) else { return false }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { return false }
        }
        return true
    }

    /// `mkdir -p`: true when `path` is (now) a directory.
    private static func makeDirectories(_ path: String) -> Bool {
        var info = stat()
        if stat(path, &info) == 0 { return (info.st_mode & S_IFMT) == S_IFDIR }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            guard makeDirectories(String(path[..<slash])) else { return false }
        }
        return mkdir(path, 0o777) == 0 || errno == EEXIST
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(atPath: stagingPath) }
    }

    /// Path of `relativePath` inside the staging directory (sub-directories are created).
    func stagedPath(_ relativePath: String) throws -> String {
        let path = stagingPath + "/" + relativePath
        if let slash = path.lastIndex(of: "/") {
            let directory = String(path[..<slash])
            if !createdDirectories.contains(directory) {
                guard Self.makeDirectories(directory) else { throw MCCError.failure("\(directory): cannot create directory") }
                createdDirectories.append(directory)
            }
        }
        return path
    }

    /// Writes a file with plain POSIX calls: Foundation's `Data.write` fsyncs every file (milliseconds each, far
    /// more on a busy disk); like other compilers, mcc leaves flushing to the OS. The staged directory only replaces
    /// the destination after every write succeeded.
    func write(_ data: Data, to relativePath: String) throws {
        try write(to: relativePath) { write in try data.withUnsafeBytes { try write($0) } }
    }

    /// Writes `text` as UTF-8 (without going through Data, whose first String conversion casts dynamically).
    func write(text: String, to relativePath: String) throws {
        var text = text
        try text.withUTF8 { bytes in try write(to: relativePath) { write in try write(UnsafeRawBufferPointer(bytes)) } }
    }

    /// Writes a file from the chunks `produce` hands to its `write` argument (no whole-file buffer in memory).
    /// `chunksStayValid`: every chunk's memory stays valid and unchanged until this call returns; the chunks then go
    /// out in few `writev` calls (BufferedFileWriter).
    func write(to relativePath: String, chunksStayValid: Bool = false,
               _ produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let path = try stagedPath(relativePath)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw MCCError.failure("\(path): cannot write (\(String(cString: strerror(errno))))") }
        func failed(_ code: Int32) -> MCCError { MCCError.failure("\(path): cannot write (\(String(cString: strerror(code))))") }
        do {
            // Small chunks (a .bin's many small tensors) are gathered into few writes.
            try BufferedFileWriter.stream(to: fd, chunksStayValid: chunksStayValid, failure: failed, produce)
        } catch {
            close(fd)
            throw error
        }
        if close(fd) != 0 { throw failed(errno) }
    }

    /// Moves the staging directory into place.
    func commit() throws {
        try write(text: "mcc \(mccVersion)\n", to: Self.markerName)
        var info = stat()
        if lstat(destinationPath, &info) == 0 {
            do { try FileManager.default.removeItem(atPath: destinationPath) } catch {
                throw MCCError.failure("\(destinationPath): cannot replace previous output")
            }
        }
        guard rename(stagingPath, destinationPath) == 0 else {
            throw MCCError.failure("\(destinationPath): cannot move output into place (\(String(cString: strerror(errno))))")
        }
        committed = true
    }
}
