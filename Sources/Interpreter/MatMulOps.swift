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
    try ctx.requireBLAS()
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

/// numpy matmul shapes: 1-D promotion, broadcast batch axes, and per batch entry which matrix of A and B to use.
struct MatMulPlan {
    var m: Int, k: Int, n: Int
    var batch: [Int]
    var outputShape: [Int]
    /// A's batch axes equal the output's and B has none (or only 1s): all of A is one (batch·M)×K matrix.
    var sharesB: Bool
    private var aStrides: [Int], bStrides: [Int]

    init(_ ctx: OpContext, a: [Int], b: [Int]) throws {
        guard a.count >= 1, b.count >= 1 else { throw ctx.failure("operands \(a) and \(b) must not be scalars") }
        // Promote 1-D operands: A [K] → [1, K], B [K] → [K, 1]; the added axes are dropped from the result.
        let aShape = a.count == 1 ? [1, a[0]] : a
        let bShape = b.count == 1 ? [b[0], 1] : b
        (m, k) = (aShape[aShape.count - 2], aShape[aShape.count - 1])
        let kb = bShape[bShape.count - 2]
        n = bShape[bShape.count - 1]
        guard k == kb else { throw ctx.failure("inner dimensions differ: A \(a), B \(b)") }
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        let rank = max(aBatch.count, bBatch.count)
        let aFull = Array(repeating: 1, count: rank - aBatch.count) + aBatch
        let bFull = Array(repeating: 1, count: rank - bBatch.count) + bBatch
        var batch: [Int] = []
        for (p, q) in zip(aFull, bFull) {
            guard p == q || p == 1 || q == 1 else { throw ctx.failure("batch dimensions of \(a) and \(b) do not broadcast") }
            batch.append(p == 1 ? q : p)
        }
        self.batch = batch
        outputShape = batch + (a.count > 1 ? [m] : []) + (b.count > 1 ? [n] : [])
        sharesB = bFull.allSatisfy { $0 == 1 } && aFull == batch
        aStrides = broadcastBatchStrides(aFull, batch)
        bStrides = broadcastBatchStrides(bFull, batch)
    }

    var batchCount: Int { batch.reduce(1, *) }

    /// Calls `body(entry, aMatrix, bMatrix)` for every output batch entry with the operands' matrix indices.
    func forEachEntry(_ body: (Int, Int, Int) -> Void) {
        var index = [Int](repeating: 0, count: batch.count)
        for entry in 0..<batchCount {
            var ai = 0, bi = 0
            for axis in batch.indices {
                ai += index[axis] * aStrides[axis]
                bi += index[axis] * bStrides[axis]
            }
            body(entry, ai, bi)
            _ = advance(&index, batch)
        }
    }
}

private func matrixMultiply(_ ctx: OpContext) throws -> Tensor {
    try ctx.requireBLAS()
    let a = try ctx.floatInput(0, "MatMul A"), b = try ctx.floatInput(1, "MatMul B")
    let plan = try MatMulPlan(ctx, a: a.shape, b: b.shape)
    let (m, k, n) = (plan.m, plan.k, plan.n)
    let y = try ctx.allocate(.float, plan.outputShape)
    guard y.elementCount > 0 else { return y }
    let yp = y.mutableFloats
    a.withFloats { ap in
        b.withFloats { bp in
            if plan.sharesB {
                // B is shared: all of A's rows form one M·batch × K matrix.
                sgemm(transA: false, transB: false, m: m * plan.batchCount, n: n, k: k, a: ap, lda: k, b: bp, ldb: n,
                      c: yp, ldc: n)
                return
            }
            plan.forEachEntry { entry, ai, bi in
                sgemm(transA: false, transB: false, m: m, n: n, k: k, a: ap + ai * m * k, lda: k,
                      b: bp + bi * k * n, ldb: n, c: yp + entry * m * n, ldc: n)
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
