#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import IR

/// Memory for the large weight tensors a pass writes (folded weights, float16 copies), carved from 2 MiB-aligned
/// regions the kernel may back with transparent huge pages.
///
/// Why: every fresh 4 KiB page costs a page fault on first write, and on the VMs mcc is benchmarked on that is
/// ~0.85 µs per page (3.5 ms per 4 MiB of new weights, more than computing them); a huge page is one fault per
/// 2 MiB (~0.25 ms per 4 MiB). Buffers below `minimumByteCount` (16 KiB: biases, small kernels) come from malloc
/// as before, and so do the first `smallPageBudget` bytes of tensors below `smallPageLimit`: the kernel zero-fills
/// a whole huge page on its first write (~0.2 ms), more than a few hundred KiB of small tensors cost on malloc's
/// heap, which often reuses memory freed earlier (ppocrv4_det's copied weights of 16–64 KiB spent a quarter of the
/// passes' time in that zero fill once its large weights were folded in place). Larger tensors would come from
/// fresh small pages there (malloc maps them), one fault per 4 KiB.
/// A region stays mapped while any tensor carved from it lives (tensors hold it as their storage's owner), so
/// memory is returned when the last of them goes; at most one partly used huge page per arena is wasted. Without huge-page support this is plain anonymous memory.
final class WeightArena {
    /// Tensors smaller than this are ordinary allocations.
    static let minimumByteCount = 16 << 10
    /// Bytes of tensors below `smallPageLimit` served by malloc before the first region is mapped.
    static let smallPageBudget = 1 << 20
    static let smallPageLimit = 64 << 10
    /// Address space reserved per region; only pages written become resident.
    static let regionByteCount = 32 << 20
    private static let hugePage = 2 << 20

    private var region: Region?
    private var offset = 0
    private var smallPageBytes = 0

    /// An owned, writable, 64-byte-aligned buffer of `byteCount` bytes with undefined contents (the caller writes
    /// every byte).
    func uninitializedStorage(byteCount: Int) -> TensorStorage {
        guard byteCount >= Self.minimumByteCount else { return TensorStorage(uninitializedByteCount: byteCount) }
        if region == nil && byteCount < Self.smallPageLimit && byteCount <= Self.smallPageBudget - smallPageBytes {
            smallPageBytes += byteCount
            return TensorStorage(uninitializedByteCount: byteCount)
        }
        let size = (byteCount + 63) & ~63
        if region.map({ offset + size > $0.byteCount }) ?? true {
            guard let fresh = Region(byteCount: max(size, Self.regionByteCount)) else {
                return TensorStorage(uninitializedByteCount: byteCount)
            }
            region = fresh
            offset = 0
        }
        guard let region else { return TensorStorage(uninitializedByteCount: byteCount) }
        let start = region.base + offset
        offset += size
        return TensorStorage(viewingWritable: UnsafeMutableRawBufferPointer(start: start, count: byteCount), owner: region)
    }

    /// One anonymous mapping, aligned to a huge page and advised to use huge pages; unmapped when released.
    private final class Region {
        let base: UnsafeMutableRawPointer
        let byteCount: Int
        private let mapping: UnsafeMutableRawPointer
        private let mappedByteCount: Int

        init?(byteCount requested: Int) {
            let huge = WeightArena.hugePage
            let length = (requested + huge - 1) / huge * huge
            mappedByteCount = length + huge
            guard let p = mmap(nil, mappedByteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  p != MAP_FAILED else { return nil }
            mapping = p
            let aligned = (Int(bitPattern: p) + huge - 1) / huge * huge
            base = p + (aligned - Int(bitPattern: p))
            byteCount = length
            #if os(Linux)
            // Advice only: without transparent huge pages the region is ordinary memory.
            _ = madvise(base, length, MADV_HUGEPAGE)
            #endif
        }

        deinit { munmap(mapping, mappedByteCount) }
    }
}
