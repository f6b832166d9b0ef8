import IR
import Kernels

/// Helpers shared by the neural-network op families (Conv, pooling, MatMul, normalisation, Resize, RNNs):
/// float pointer access to tensors, pooled scratch buffers and N-d index arithmetic.

extension OpContext {
    /// Input `index`, which must be float32 (the NN kernels are float-only).
    /// Loads OpenBLAS for the GEMM-based kernels; failing that, a one-line error naming the library and node.
    func requireBLAS() throws {
        do { try loadBLAS() } catch { throw MCCError.failure("\(node.label): \(error)") }
    }

    func floatInput(_ index: Int, _ role: String) throws -> Tensor {
        let t = try input(index)
        guard t.elementType == .float else { throw unsupported("\(role) type \(t.elementType) (only float32)") }
        return t
    }

    /// A required integer attribute. Spelled with guard/let and kept out of line: the optional-chained form crashes
    /// Swift 6.3's CopyPropagation when inlined (see `OpContext.int`).
    @inline(never)
    func requiredInt(_ name: String) throws -> Int {
        guard let attribute = node.attribute(name), let v = attribute.int else {
            throw failure("integer attribute '\(name)' is required")
        }
        return Int(clamping: v)
    }

    /// Runs `body` with `count` floats of uninitialised scratch memory taken from the buffer pool and returned to it
    /// afterwards, so repeated runs allocate nothing.
    func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) throws -> R {
        var storage: TensorStorage? = try allocate(.float, [max(count, 1)]).storage
        defer { pool.recycle(&storage) }
        guard let base = storage?.mutableBaseAddress else { throw failure("no scratch buffer") }
        return try body(base.assumingMemoryBound(to: Float.self))
    }
}

extension Tensor {
    /// Calls `body` with the float32 elements (aligned; an unaligned external-data view is copied first).
    func withFloats<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer(as: Float.self) { buffer in
            // A zero-element tensor still has a valid (1-byte) allocation behind it.
            try body(buffer.baseAddress ?? UnsafePointer(bitPattern: 64)!)
        }
    }

    /// Writable float32 elements of a tensor this op allocated.
    var mutableFloats: UnsafeMutablePointer<Float> { storage.mutableBaseAddress.assumingMemoryBound(to: Float.self) }
}

/// Calls `body` with the floats of `tensor`, or nil when it is absent.
func withOptionalFloats<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
    guard let tensor else { return try body(nil) }
    return try tensor.withFloats { try body($0) }
}

/// Row-major strides of `shape`.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in shape.indices.reversed() {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// Advances a row-major multi-index over `shape`; returns false after the last index.
@inline(__always)
func advance(_ index: inout [Int], _ shape: [Int]) -> Bool {
    var axis = shape.count - 1
    while axis >= 0 {
        index[axis] += 1
        if index[axis] < shape[axis] { return true }
        index[axis] = 0
        axis -= 1
    }
    return false
}

extension OpRegistry {
    /// Registers a float32 kernel that also serves float16, bfloat16 and double inputs: operands of input 0's type
    /// are converted to float32, the kernel runs, and its float32 outputs are converted back. The tolerance of those
    /// types' users (and of the onnx tests) is far above the float32 rounding this adds.
    mutating func registerPromoting(_ opType: String, _ kernel: @escaping OpKernel) {
        register(opType) { ctx in try promotedToFloat32(ctx, kernel) }
    }
}

private func promotedToFloat32(_ ctx: OpContext, _ kernel: OpKernel) throws -> [Tensor] {
    guard let first = ctx.inputs.first, let type = first?.elementType,
          type == .float16 || type == .bfloat16 || type == .double else { return try kernel(ctx) }
    let inputs = try ctx.inputs.map { t in try t.map { $0.elementType == type ? try convert($0, to: .float, ctx: ctx) : $0 } }
    let inner = OpContext(node: ctx.node, inputs: inputs, opset: ctx.opset, pool: ctx.pool,
                          interpreter: ctx.interpreter, scope: ctx.scope)
    return try kernel(inner).map { $0.elementType == .float ? try convert($0, to: type, ctx: ctx) : $0 }
}
