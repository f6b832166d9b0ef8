/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`.
///
/// `op(A)` is M×K and `op(B)` is K×N; `lda`, `ldb` and `ldc` are the row strides of the stored (untransposed)
/// matrices, so for `transA == false` A is M×K with `lda >= K`, and for `transA == true` A is stored K×M with
/// `lda >= M`. When `beta == 0`, C is not read (it may hold garbage or NaN).
///
/// Threading: OpenBLAS itself always runs single-threaded (see `KernelConfig`); large products are split here into
/// column (or row) blocks over `parallelFor`, so BLAS and our other kernels share one pool of threads.
public func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard m > 0, n > 0 else { return }
    let threads = KernelConfig.threads
    // Below ~1 MFLOP a thread hop costs more than it saves.
    guard threads > 1, m * n * max(k, 1) >= 1 << 19, max(m, n) >= 32 else {
        sgemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                    beta: beta, c: c, ldc: ldc)
        return
    }
    if n >= m || n >= 16 * threads {
        // Column blocks of C: C[:, j0..<j1] = op(A) · op(B)[:, j0..<j1]. Multiples of 16 keep SIMD tails rare.
        let blocks = (n + 15) / 16
        parallelFor(blocks) { range in
            let j0 = range.lowerBound * 16, j1 = min(n, range.upperBound * 16)
            sgemmSerial(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha, a: a, lda: lda,
                        b: transB ? b + j0 * ldb : b + j0, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
        }
    } else {
        // Row blocks of C: C[i0..<i1, :] = op(A)[i0..<i1, :] · op(B).
        parallelFor(m) { range in
            let i0 = range.lowerBound
            sgemmSerial(transA: transA, transB: transB, m: range.count, n: n, k: k, alpha: alpha,
                        a: transA ? a + i0 : a + i0 * lda, lda: lda, b: b, ldb: ldb, beta: beta,
                        c: c + i0 * ldc, ldc: ldc)
        }
    }
}

/// `sgemm` on the calling thread only (for callers that already run in parallel).
public func sgemmSerial(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        // BLAS would handle this, but an explicit path keeps the beta == 0 "C not read" promise obvious.
        scaleMatrix(c, rows: m, cols: n, ld: ldc, by: beta)
        return
    }
    // A single output column or row is a matrix-vector product; OpenBLAS's sgemm (0.3.21) does not forward those
    // to sgemv, which is 3-5x faster there. sgemv, like sgemm, does not read y when beta == 0.
    if n == 1 {
        // C[:, 0] = op(A)·b, b a column of B (row stride ldb) or, transposed, a contiguous row.
        OpenBLAS.functions.sgemv(OpenBLAS.rowMajor, transA ? OpenBLAS.trans : OpenBLAS.noTrans, Int32(transA ? k : m), Int32(transA ? m : k),
                    alpha, a, Int32(lda), b, transB ? 1 : Int32(ldb), beta, c, Int32(ldc))
        return
    }
    if m == 1 {
        // C[0, :] = op(B)ᵀ·a, a the single row of op(A): contiguous, or a column of the stored K×1 A.
        OpenBLAS.functions.sgemv(OpenBLAS.rowMajor, transB ? OpenBLAS.noTrans : OpenBLAS.trans, Int32(transB ? n : k), Int32(transB ? k : n),
                    alpha, b, Int32(ldb), a, transA ? Int32(lda) : 1, beta, c, 1)
        return
    }
    OpenBLAS.functions.sgemm(
        OpenBLAS.rowMajor, transA ? OpenBLAS.trans : OpenBLAS.noTrans, transB ? OpenBLAS.trans : OpenBLAS.noTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// How Gemm's C operand broadcasts onto the M×N result.
public enum GemmBias: Sendable, Equatable {
    case none
    /// One value for every element.
    case scalar
    /// A length-N vector added to every row (C shape [N] or [1,N]).
    case row
    /// A length-M vector added to every column (C shape [M,1]).
    case column
    /// A full M×N matrix, row-major and contiguous.
    case full
}

/// ONNX Gemm: `Y = alpha * op(A) * op(B) + beta * C` with unidirectional broadcast of C.
///
/// A and B are contiguous row-major as stored (A is M×K, or K×M when `transA`; likewise B). Y is M×N contiguous.
/// `c` must be non-nil unless `bias == .none`.
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float,
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>?, bias: GemmBias,
    y: UnsafeMutablePointer<Float>
) {
    guard m > 0, n > 0 else { return }
    var blasBeta: Float = 0
    if bias != .none && beta != 0 {
        guard let c else { preconditionFailure("gemm: bias kind \(bias) needs C") }
        // Broadcast beta*C into Y first and let BLAS accumulate onto it.
        switch bias {
        case .none: break
        case .scalar:
            let v = beta * c[0]
            for i in 0..<(m * n) { y[i] = v }
        case .row:
            for i in 0..<m {
                let yr = y + i * n
                for j in 0..<n { yr[j] = beta * c[j] }
            }
        case .column:
            for i in 0..<m {
                let v = beta * c[i]
                let yr = y + i * n
                for j in 0..<n { yr[j] = v }
            }
        case .full:
            for i in 0..<(m * n) { y[i] = beta * c[i] }
        }
        blasBeta = 1
    }
    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
          a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n, beta: blasBeta, c: y, ldc: n)
}

/// Scales an M×N sub-matrix in place; `factor == 0` writes zeros without reading (so NaN garbage is cleared).
func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, by factor: Float) {
    for i in 0..<rows {
        let r = c + i * ld
        if factor == 0 {
            r.update(repeating: 0, count: cols)
        } else if factor != 1 {
            for j in 0..<cols { r[j] *= factor }
        }
    }
}
