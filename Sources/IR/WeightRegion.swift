#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One anonymous mapping for many large weight buffers whose total size is known up front (e.g. every weight of
/// a model being imported), aligned to and advised for transparent huge pages.
///
/// Why: each fresh 4 KiB page costs a page fault on first write (~0.85 µs on the VMs mcc is benchmarked on, more
/// than copying the page); a huge page is one fault per 2 MiB. Slices are 64-byte aligned. A slice's whole pages
/// are returned to the kernel as soon as its last user calls `release` (so weights a pass replaced do not stay
/// resident); the mapping goes away when the region object does (slices' owners hold it).
/// Without huge-page support this is plain anonymous memory.
public final class WeightRegion: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    private let mapping: UnsafeMutableRawPointer
    private let mappedByteCount: Int
    private var used = 0
    private static let hugePage = 2 << 20
    public static let alignment = 64

    /// Room for `byteCount` bytes of 64-byte-aligned slices; nil when the mapping cannot be made.
    public init?(byteCount requested: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let usable = max((requested + page - 1) / page * page, page)
        // Over-allocate by one huge page to align the start, then trim the excess on both sides. A tail beyond the
        // last whole huge page stays small pages when it is under half a huge page (no resident 2 MiB page for a
        // few KiB of weights); a longer one is mapped up to the next huge page: one fault instead of up to 512
        // (ppocrv4_det's 1.9 MiB tail took ~500 faults, most of the time its weights took to read).
        let huge = Self.hugePage
        let length = usable % huge >= huge / 2 ? (usable + huge - 1) / huge * huge : usable
        let total = length + huge
        guard let p = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED
        else { return nil }
        let aligned = (Int(bitPattern: p) + huge - 1) / huge * huge
        let head = aligned - Int(bitPattern: p)
        if head > 0 { munmap(p, head) }
        let tail = total - head - length
        if tail > 0 { munmap(p + head + length, tail) }
        mapping = p + head
        mappedByteCount = length
        base = mapping
        byteCount = usable
        #if os(Linux)
        // Advice only: without transparent huge pages the region is ordinary memory.
        _ = madvise(base, length, MADV_HUGEPAGE)
        #endif
    }

    deinit { munmap(mapping, mappedByteCount) }

    /// The next `byteCount` bytes (64-byte aligned, contents zero until written), or nil when the region is full.
    public func slice(byteCount: Int) -> UnsafeMutableRawBufferPointer? {
        let start = (used + Self.alignment - 1) / Self.alignment * Self.alignment
        guard byteCount >= 0, start <= self.byteCount, byteCount <= self.byteCount - start else { return nil }
        used = start + byteCount
        return UnsafeMutableRawBufferPointer(start: base + start, count: byteCount)
    }

    /// Returns the pages lying wholly inside `slice` to the kernel; the slice must not be used afterwards.
    public func release(_ slice: UnsafeMutableRawBufferPointer) {
        guard let start = slice.baseAddress, slice.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + slice.count) / page * page
        guard end > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(p, end - first, Int32(MADV_DONTNEED))
    }

    /// Bytes needed for slices of `sizes` (in order), alignment included.
    public static func byteCount(for sizes: [Int]) -> Int {
        sizes.reduce(0) { ($0 + alignment - 1) / alignment * alignment + $1 }
    }
}
