#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes chunks to a file descriptor, gathering small ones in a buffer so that a file made of many small tensors
/// (a `.bin`, external data) takes a few `write` calls instead of one or two per tensor (each a system call of a
/// few microseconds). Large chunks are written straight from the caller's memory, never copied.
///
/// With `chunksStayValid` (the caller promises every chunk's memory stays valid and unchanged until `flush`), large
/// chunks are not written one by one either: they are queued, with the buffered runs of small chunks between them,
/// and go out in one `writev` per up to 1024 pieces. One call per file lets the kernel fill its page cache in large
/// folios whatever the tensor sizes; ext4's cost per `write` of 16–64 KiB (a small folio each, block mapping per
/// call) was most of the time mcc spent writing a `.bin` of small weights.
public struct BufferedFileWriter: ~Copyable {
    /// Chunks below this size are copied into the buffer.
    static let smallChunk = 1 << 14
    static let bufferSize = 1 << 18
    /// Pieces per `writev` (Linux's IOV_MAX).
    static let maximumPieces = 1024

    private let descriptor: Int32
    private let buffer: UnsafeMutableRawPointer
    private var used = 0
    /// Gathering mode: pieces queued for the next `writev` (buffer runs and caller chunks, in file order).
    private let pieces: UnsafeMutablePointer<iovec>?
    private var pieceCount = 0
    /// Start of the buffer run not yet queued as a piece.
    private var runStart = 0

    /// `descriptor` stays owned by the caller (closed by it). `chunksStayValid`: see the type's documentation.
    public init(descriptor: Int32, chunksStayValid: Bool = false) {
        self.descriptor = descriptor
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: 64)
        pieces = chunksStayValid ? UnsafeMutablePointer<iovec>.allocate(capacity: Self.maximumPieces) : nil
    }

    deinit {
        buffer.deallocate()
        pieces?.deallocate()
    }

    /// Appends `bytes` to the file; returns errno on failure (the file is then incomplete).
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> Int32? {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return nil }
        if pieces != nil { return gather(base, bytes.count) }
        if bytes.count < Self.smallChunk {
            if used + bytes.count > Self.bufferSize, let error = flush() { return error }
            (buffer + used).copyMemory(from: base, byteCount: bytes.count)
            used += bytes.count
            return nil
        }
        if let error = flush() { return error }
        return Self.writeAll(descriptor, base, bytes.count)
    }

    /// Writes what the buffer (and, gathering, the queue) holds; returns errno on failure.
    public mutating func flush() -> Int32? {
        if pieces != nil { return writeQueued() }
        guard used > 0 else { return nil }
        let count = used
        used = 0
        return Self.writeAll(descriptor, UnsafeRawPointer(buffer), count)
    }

    /// Streams the chunks `produce` hands to its `write` argument to `descriptor` (left open), gathering small ones;
    /// a failed write throws `failure(errno)`. `chunksStayValid`: every chunk's memory stays valid and unchanged
    /// until this call returns (then large chunks are queued, not written one by one).
    public static func stream(
        to descriptor: Int32, chunksStayValid: Bool = false, failure: @escaping (Int32) -> Error,
        _ produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        var writer = BufferedFileWriter(descriptor: descriptor, chunksStayValid: chunksStayValid)
        try produce { bytes in
            if let error = writer.write(bytes) { throw failure(error) }
        }
        if let error = writer.flush() { throw failure(error) }
    }

    // MARK: Gathering

    private mutating func gather(_ base: UnsafeRawPointer, _ count: Int) -> Int32? {
        if count < Self.smallChunk {
            if used + count > Self.bufferSize, let error = writeQueued() { return error }
            (buffer + used).copyMemory(from: base, byteCount: count)
            used += count
            return nil
        }
        // The buffered run before this chunk, then the chunk: two pieces at most.
        if pieceCount + 2 > Self.maximumPieces, let error = writeQueued() { return error }
        queueRun()
        queue(base, count)
        return nil
    }

    /// Queues the buffer bytes added since the last queued run.
    private mutating func queueRun() {
        guard used > runStart else { return }
        queue(UnsafeRawPointer(buffer + runStart), used - runStart)
        runStart = used
    }

    private mutating func queue(_ base: UnsafeRawPointer, _ count: Int) {
        guard let pieces else { return }
        pieces[pieceCount] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: count)
        pieceCount += 1
    }

    /// Writes every queued piece (and the buffer's last run), then empties the queue and the buffer.
    private mutating func writeQueued() -> Int32? {
        queueRun()
        defer {
            pieceCount = 0
            used = 0
            runStart = 0
        }
        guard let pieces, pieceCount > 0 else { return nil }
        var first = 0
        while first < pieceCount {
            let n = systemWritev(descriptor, pieces + first, Int32(pieceCount - first))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }
            // Skip the pieces written whole; a partly written one continues from where the kernel stopped.
            var left = n
            while first < pieceCount, left >= pieces[first].iov_len {
                left -= pieces[first].iov_len
                first += 1
            }
            if left > 0, first < pieceCount, let start = pieces[first].iov_base {
                pieces[first].iov_base = start + left
                pieces[first].iov_len -= left
            }
        }
        return nil
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
private func systemWritev(_ fd: Int32, _ pieces: UnsafePointer<iovec>, _ count: Int32) -> Int { writev(fd, pieces, count) }
