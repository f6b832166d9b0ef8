#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes chunks to a file descriptor, gathering small ones in a buffer so that a file made of many small tensors
/// (a `.bin`, external data) takes a few `write` calls instead of one or two per tensor (each a system call of a
/// few microseconds). Large chunks are written straight from the caller's memory, never copied.
public struct BufferedFileWriter: ~Copyable {
    /// Chunks below this size are copied into the buffer.
    static let smallChunk = 1 << 14
    static let bufferSize = 1 << 18

    private let descriptor: Int32
    private let buffer: UnsafeMutableRawPointer
    private var used = 0

    /// `descriptor` stays owned by the caller (closed by it).
    public init(descriptor: Int32) {
        self.descriptor = descriptor
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// Appends `bytes` to the file; returns errno on failure (the file is then incomplete).
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> Int32? {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return nil }
        if bytes.count < Self.smallChunk {
            if used + bytes.count > Self.bufferSize, let error = flush() { return error }
            (buffer + used).copyMemory(from: base, byteCount: bytes.count)
            used += bytes.count
            return nil
        }
        if let error = flush() { return error }
        return Self.writeAll(descriptor, base, bytes.count)
    }

    /// Writes what the buffer holds; returns errno on failure.
    public mutating func flush() -> Int32? {
        guard used > 0 else { return nil }
        let count = used
        used = 0
        return Self.writeAll(descriptor, UnsafeRawPointer(buffer), count)
    }

    /// Streams the chunks `produce` hands to its `write` argument to `descriptor` (left open), gathering small ones;
    /// a failed write throws `failure(errno)`.
    public static func stream(
        to descriptor: Int32, failure: @escaping (Int32) -> Error,
        _ produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        var writer = BufferedFileWriter(descriptor: descriptor)
        try produce { bytes in
            if let error = writer.write(bytes) { throw failure(error) }
        }
        if let error = writer.flush() { throw failure(error) }
    }

    private static func writeAll(_ descriptor: Int32, _ base: UnsafeRawPointer, _ count: Int) -> Int32? {
        var offset = 0
        while offset < count {
            let n = systemWrite(descriptor, base + offset, count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }
            offset += n
        }
        return nil
    }
}

private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
