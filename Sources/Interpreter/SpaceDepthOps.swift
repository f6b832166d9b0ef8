import IR

/// DepthToSpace and SpaceToDepth on [N, C, H, W] tensors of any fixed-width element type, block size b:
/// - DepthToSpace DCR (default): `y[n, c, h·b + i, w·b + j] = x[n, (i·b + j)·C/b² + c, h, w]`;
///   CRD: `y[n, c, h·b + i, w·b + j] = x[n, c·b² + i·b + j, h, w]`.
/// - SpaceToDepth: `y[n, (i·b + j)·C + c, h, w] = x[n, c, h·b + i, w·b + j]`.
func registerSpaceDepthOps(_ r: inout OpRegistry) {
    r.register("DepthToSpace") { ctx in
        let x = try ctx.input(0)
        let b = try blockSize(ctx, x)
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        guard c % (b * b) == 0 else { throw ctx.failure("channels \(c) are not divisible by blocksize² \(b * b)") }
        let mode = ctx.string("mode", default: "DCR")
        guard mode == "DCR" || mode == "CRD" else { throw ctx.failure("unknown mode '\(mode)'") }
        let oc = c / (b * b)
        let y = try ctx.allocate(x.elementType, [n, oc, h * b, w * b])
        permute(x, y) { copy in
            for image in 0..<n {
                for ch in 0..<oc {
                    for row in 0..<h * b {
                        for col in 0..<w * b {
                            let (i, j) = (row % b, col % b)
                            let source = mode == "DCR" ? (i * b + j) * oc + ch : ch * b * b + i * b + j
                            copy(((image * oc + ch) * h * b + row) * w * b + col,
                                 ((image * c + source) * h + row / b) * w + col / b)
                        }
                    }
                }
            }
        }
        return [y]
    }
    r.register("SpaceToDepth") { ctx in
        let x = try ctx.input(0)
        let b = try blockSize(ctx, x)
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        guard h % b == 0, w % b == 0 else { throw ctx.failure("spatial size \(h)x\(w) is not divisible by blocksize \(b)") }
        let (oh, ow) = (h / b, w / b)
        let y = try ctx.allocate(x.elementType, [n, c * b * b, oh, ow])
        permute(x, y) { copy in
            for image in 0..<n {
                for ch in 0..<c {
                    for row in 0..<h {
                        for col in 0..<w {
                            let target = ((row % b) * b + col % b) * c + ch
                            copy(((image * c * b * b + target) * oh + row / b) * ow + col / b,
                                 ((image * c + ch) * h + row) * w + col)
                        }
                    }
                }
            }
        }
        return [y]
    }
}

private func blockSize(_ ctx: OpContext, _ x: Tensor) throws -> Int {
    guard x.rank == 4 else { throw ctx.failure("input must be 4-D [N, C, H, W], got \(x.shape)") }
    guard x.elementType != .string, x.elementType.bitWidth % 8 == 0 else {
        throw ctx.unsupported("element type \(x.elementType)")
    }
    let b = try ctx.requiredInt("blocksize")
    guard b > 0 else { throw ctx.failure("blocksize \(b) must be positive") }
    return b
}

/// Calls `body` with a `copy(destinationIndex, sourceIndex)` that moves one element of `x`'s width.
private func permute(_ x: Tensor, _ y: Tensor, _ body: ((Int, Int) -> Void) -> Void) {
    guard y.elementCount > 0 else { return }
    let width = x.elementType.bitWidth / 8
    let src = x.storage.baseAddress, dst = y.storage.mutableBaseAddress
    body { to, from in (dst + to * width).copyMemory(from: src + from * width, byteCount: width) }
}
