import CKernels

/// Runs `body` once per instruction-set variant of the C kernels (Sources/CKernels) this CPU supports — baseline
/// x86-64, AVX2+FMA, AVX-512 — with a label for failure messages, then restores the level in use before.
public func forEachISA(_ body: (String) -> Void) {
    let previous = mcc_isa()
    defer { mcc_set_isa(previous) }
    var seen = Set<Int32>()
    for level in [MCC_ISA_BASELINE, MCC_ISA_AVX2, MCC_ISA_AVX512] {
        let used = mcc_set_isa(Int32(level))
        guard seen.insert(used).inserted else { continue }
        body(["baseline", "avx2", "avx512"][Int(used)])
    }
}
