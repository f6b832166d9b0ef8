import IR
import Kernels

/// Matrix products computed in float32 (other float types are promoted): Gemm (`alpha·op(A)·op(B) + beta·C`, C broadcast unidirectionally to M×N) and MatMul
/// (numpy matmul: 1-D operands are promoted and the added axis removed, leading axes broadcast).
///
/// MatMul with a 2-D B (the usual weight case) is one sgemm over all batch rows of A; otherwise one sgemm per batch
/// entry, with broadcast batch axes mapped to the operand's own entry.
func registerMatMulOps(_ r: inout OpRegistry) {
    r.registerPromoting("Gemm") { ctx in [try generalMatrixMultiply(ctx)] }
    r.registerPromoting("MatMul") { ctx in [try matrixMultiply(ctx)] }
}

private func generalMatrixMultiply(_ ctx: OpContext) throws -> Tensor {
    let a = try ctx.floatInput(0, "Gemm A"), b = try ctx.floatInput(1, "Gemm B")
    guard a.rank == 2, b.rank == 2 else { throw ctx.failure("A \(a.shape) and B \(b.shape) must be matrices") }
    let transA = ctx.int("transA", default: 0) != 0, transB = ctx.int("transB", default: 0) != 0
    let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    guard k == kb else { throw ctx.failure("inner dimensions differ: op(A) is \(m)x\(k), op(B) is \(kb)x\(n)") }
    let alpha = ctx.float("alpha", default: 1), beta = ctx.float("beta", default: 1)
    let c = ctx.optionalInput(2)
    var bias = GemmBias.none
    if let c {
        guard c.elementType == .float else { throw ctx.unsupported("C type \(c.elementType) (only float32)") }
        guard c.rank <= 2 else { throw ctx.failure("C \(c.shape) must have rank at most 2") }
        let cm = c.rank == 2 ? c.shape[0] : 1, cn = c.rank >= 1 ? c.shape[c.rank - 1] : 1
        guard cm == 1 || cm == m, cn == 1 || cn == n else {
            throw ctx.failure("C \(c.shape) does not broadcast to [\(m), \(n)]")
        }
        switch (cm == m && m != 1, cn == n && n != 1) {
        case (true, true): bias = .full
        case (true, false): bias = .column
        case (false, true): bias = .row
        case (false, false): bias = c.elementCount == 1 ? .scalar : .full
        }
        if c.elementCount == 0 { bias = .none }
    }
    let y = try ctx.allocate(.float, [m, n])
    guard m > 0, n > 0 else { return y }
    a.withFloats { ap in
        b.withFloats { bp in
            withOptionalFloats(c) { cp in
                gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta, a: ap, b: bp, c: cp,
                     bias: bias, y: y.mutableFloats)
            }
        }
    }
    return y
}

private func matrixMultiply(_ ctx: OpContext) throws -> Tensor {
    let a = try ctx.floatInput(0, "MatMul A"), b = try ctx.floatInput(1, "MatMul B")
    guard a.rank >= 1, b.rank >= 1 else { throw ctx.failure("operands \(a.shape) and \(b.shape) must not be scalars") }
    // Promote 1-D operands: A [K] → [1, K], B [K] → [K, 1]; the added axes are dropped from the result.
    let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
    let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
    let (m, k) = (aShape[aShape.count - 2], aShape[aShape.count - 1])
    let (kb, n) = (bShape[bShape.count - 2], bShape[bShape.count - 1])
    guard k == kb else { throw ctx.failure("inner dimensions differ: A \(a.shape), B \(b.shape)") }
    let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
    let rank = max(aBatch.count, bBatch.count)
    let aFull = Array(repeating: 1, count: rank - aBatch.count) + aBatch
    let bFull = Array(repeating: 1, count: rank - bBatch.count) + bBatch
    var batch: [Int] = []
    for (p, q) in zip(aFull, bFull) {
        guard p == q || p == 1 || q == 1 else { throw ctx.failure("batch dimensions of \(a.shape) and \(b.shape) do not broadcast") }
        batch.append(p == 1 ? q : p)
    }
    var outShape = batch
    if a.rank > 1 { outShape.append(m) }
    if b.rank > 1 { outShape.append(n) }
    let y = try ctx.allocate(.float, outShape)
    guard y.elementCount > 0 else { return y }
    let yp = y.mutableFloats
    let batchCount = batch.reduce(1, *)
    a.withFloats { ap in
        b.withFloats { bp in
            if bFull.allSatisfy({ $0 == 1 }) && aFull == batch {
                // B is shared: all of A's rows form one M·batch × K matrix.
                sgemm(transA: false, transB: false, m: m * batchCount, n: n, k: k, a: ap, lda: k, b: bp, ldb: n,
                      c: yp, ldc: n)
                return
            }
            let aStrides = broadcastBatchStrides(aFull, batch), bStrides = broadcastBatchStrides(bFull, batch)
            var index = [Int](repeating: 0, count: rank)
            for entry in 0..<batchCount {
                var ai = 0, bi = 0
                for axis in 0..<rank {
                    ai += index[axis] * aStrides[axis]
                    bi += index[axis] * bStrides[axis]
                }
                sgemm(transA: false, transB: false, m: m, n: n, k: k, a: ap + ai * m * k, lda: k,
                      b: bp + bi * k * n, ldb: n, c: yp + entry * m * n, ldc: n)
                _ = advance(&index, batch)
            }
        }
    }
    return y
}

/// Matrix-index strides of an operand's batch axes, 0 along axes it broadcasts.
private func broadcastBatchStrides(_ operand: [Int], _ batch: [Int]) -> [Int] {
    var strides = rowMajorStrides(operand)
    for axis in operand.indices where operand[axis] == 1 && batch[axis] != 1 { strides[axis] = 0 }
    return strides
}
