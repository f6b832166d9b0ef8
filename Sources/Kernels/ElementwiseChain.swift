/// One step of a fused elementwise chain; the running value is `r`, the chain's input is `x`.
public enum ChainStep: Sendable, Equatable {
    /// r = op(r)
    case unary(UnaryOp)
    /// r = op(r, c) or op(c, r) when `operandFirst`; c is operand `index`'s value for the current plane.
    case operand(BinaryOp, index: Int, operandFirst: Bool)
    /// r = op(r, x) or op(x, r) when `inputFirst` (x·sigmoid(x), x·clip(x + 3, 0, 6), ...).
    case input(BinaryOp, inputFirst: Bool)
}

/// Runs `steps` over `planes × planeSize` contiguous floats in one pass: `y` gets the result of applying every step in
/// order, starting from `r = x`. Operand k holds one value per plane (`operands[k].count == planes`) or a single value.
///
/// Each step runs over a cache-resident block of `y`, so a chain of n ops reads and writes main memory once instead
/// of n times; the per-element arithmetic is exactly that of `unary`/`binary`, so results are bit-identical.
public func elementwiseChain(
    _ steps: [ChainStep], x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, planes: Int, planeSize: Int,
    operands: [[Float]]
) {
    let block = 1024
    let blocksPerPlane = (planeSize + block - 1) / block
    guard planes > 0, blocksPerPlane > 0 else { return }
    parallelFor(planes * blocksPerPlane, minChunk: max(1, 32_768 / min(block, planeSize))) { range in
        var values = [Float](repeating: 0, count: operands.count)
        var lastPlane = -1
        for item in range {
            let plane = item / blocksPerPlane
            if plane != lastPlane {
                for k in operands.indices { values[k] = operands[k].count == 1 ? operands[k][0] : operands[k][plane] }
                lastPlane = plane
            }
            let lo = plane * planeSize + (item % blocksPerPlane) * block
            let n = min(block, (plane + 1) * planeSize - lo)
            var source = x + lo
            let out = y + lo
            for step in steps {
                switch step {
                case .unary(let op):
                    unarySerial(op, source, out, n)
                case .operand(let op, let index, let operandFirst):
                    let c = values[index]
                    withUnsafePointer(to: c) { pc in
                        if operandFirst {
                            binaryRow(op, pc, 0, source, 1, out, n)
                        } else {
                            binaryRow(op, source, 1, pc, 0, out, n)
                        }
                    }
                case .input(let op, let inputFirst):
                    if inputFirst {
                        binaryRow(op, x + lo, 1, source, 1, out, n)
                    } else {
                        binaryRow(op, source, 1, x + lo, 1, out, n)
                    }
                }
                source = UnsafePointer(out)
            }
            if steps.isEmpty { out.update(from: source, count: n) }
        }
    }
}
