import Foundation
import IR

/// An output directory written atomically: files go to a hidden staging directory beside the destination, which
/// replaces the destination only when everything succeeded. A destination that mcc did not create (no marker
/// file) is never overwritten.
final class OutputDirectory {
    static let markerName = ".mcc-output"

    let destination: URL
    let staging: URL
    private var committed = false

    /// Checks the destination up front (before any work) and creates the staging directory.
    init(path: String) throws {
        destination = URL(fileURLWithPath: path).standardizedFileURL
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: destination.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw MCCError.usage("\(path): exists and is not a directory")
            }
            let marker = destination.appendingPathComponent(Self.markerName).path
            let contents = (try? fm.contentsOfDirectory(atPath: destination.path)) ?? []
            guard contents.isEmpty || fm.fileExists(atPath: marker) else {
                throw MCCError.usage("\(path): directory exists and was not created by mcc; refusing to overwrite it")
            }
        }
        let parent = destination.deletingLastPathComponent()
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw MCCError.failure("\(parent.path): cannot create directory")
        }
        staging = parent.appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())")
        try? fm.removeItem(at: staging)
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw MCCError.failure("\(staging.path): cannot create directory")
        }
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(at: staging) }
    }

    /// Path of `relativePath` inside the staging directory (sub-directories are created).
    func stagedPath(_ relativePath: String) throws -> String {
        let url = staging.appendingPathComponent(relativePath)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw MCCError.failure("\(url.deletingLastPathComponent().path): cannot create directory")
        }
        return url.path
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
            try produce { bytes in
                var offset = 0
                while offset < bytes.count, let base = bytes.baseAddress {
                    let n = Foundation.write(fd, base + offset, bytes.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw failed(errno)
                    }
                    offset += n
                }
            }
        } catch {
            close(fd)
            throw error
        }
        if close(fd) != 0 { throw failed(errno) }
    }

    /// Moves the staging directory into place.
    func commit() throws {
        let fm = FileManager.default
        try write(Data("mcc \(mccVersion)\n".utf8), to: Self.markerName)
        if fm.fileExists(atPath: destination.path) {
            do { try fm.removeItem(at: destination) } catch {
                throw MCCError.failure("\(destination.path): cannot replace previous output")
            }
        }
        guard rename(staging.path, destination.path) == 0 else {
            throw MCCError.failure("\(destination.path): cannot move output into place (\(String(cString: strerror(errno))))")
        }
        committed = true
    }
}
