import Foundation
import IR
import ONNXFormat

/// An output directory written atomically: files go to a hidden staging directory beside the destination, which
/// replaces the destination only when everything succeeded. A destination that mcc did not create (no marker
/// file) is never overwritten.
final class OutputDirectory {
    static let markerName = ".mcc-output"

    let destination: URL
    let staging: URL
    private let stagingPath: String
    /// Directories inside the staging directory already created (files are mostly written into a few).
    private var createdDirectories: Set<String> = []
    private var committed = false

    /// Checks the destination up front (before any work) and creates the staging directory. Plain POSIX calls:
    /// FileManager's first use instantiates generic metadata, a measurable part of a 20 ms compile.
    init(path: String) throws {
        destination = URL(fileURLWithPath: path).standardizedFileURL
        var info = stat()
        if stat(destination.path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw MCCError.usage("\(path): exists and is not a directory")
            }
            let marker = destination.appendingPathComponent(Self.markerName).path
            guard Self.isEmptyDirectory(destination.path) || access(marker, F_OK) == 0 else {
                throw MCCError.usage("\(path): directory exists and was not created by mcc; refusing to overwrite it")
            }
        }
        let parent = destination.deletingLastPathComponent()
        guard Self.makeDirectories(parent.path) else {
            throw MCCError.failure("\(parent.path): cannot create directory")
        }
        staging = parent.appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())")
        stagingPath = staging.path
        if lstat(stagingPath, &info) == 0 { try? FileManager.default.removeItem(at: staging) }
        guard mkdir(stagingPath, 0o777) == 0 else {
            throw MCCError.failure("\(stagingPath): cannot create directory")
        }
        createdDirectories.insert(stagingPath)
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
        if !committed { try? FileManager.default.removeItem(at: staging) }
    }

    /// Path of `relativePath` inside the staging directory (sub-directories are created).
    func stagedPath(_ relativePath: String) throws -> String {
        let path = stagingPath + "/" + relativePath
        if let slash = path.lastIndex(of: "/") {
            let directory = String(path[..<slash])
            if !createdDirectories.contains(directory) {
                guard Self.makeDirectories(directory) else { throw MCCError.failure("\(directory): cannot create directory") }
                createdDirectories.insert(directory)
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

    /// Writes a file from the chunks `produce` hands to its `write` argument (no whole-file buffer in memory).
    func write(to relativePath: String,
               _ produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let path = try stagedPath(relativePath)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw MCCError.failure("\(path): cannot write (\(String(cString: strerror(errno))))") }
        func failed(_ code: Int32) -> MCCError { MCCError.failure("\(path): cannot write (\(String(cString: strerror(code))))") }
        do {
            // Small chunks (a .bin's many small tensors) are gathered into few writes.
            try BufferedFileWriter.stream(to: fd, failure: failed, produce)
        } catch {
            close(fd)
            throw error
        }
        if close(fd) != 0 { throw failed(errno) }
    }

    /// Moves the staging directory into place.
    func commit() throws {
        try write(Data("mcc \(mccVersion)\n".utf8), to: Self.markerName)
        var info = stat()
        if lstat(destination.path, &info) == 0 {
            do { try FileManager.default.removeItem(at: destination) } catch {
                throw MCCError.failure("\(destination.path): cannot replace previous output")
            }
        }
        guard rename(stagingPath, destination.path) == 0 else {
            throw MCCError.failure("\(destination.path): cannot move output into place (\(String(cString: strerror(errno))))")
        }
        committed = true
    }
}
