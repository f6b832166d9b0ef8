import CKernels
import IR

/// Stores the weights of compute ops as float16 for targets that run in FP16 (only when
/// `context.options.castToFP16`).
///
/// Rewrite: a float32 constant c (initializer or Constant node) becomes the float16 initializer `<c>_compressed`
/// (round to nearest even) followed by `Cast(to = FLOAT)` whose output is the original value `c` (name and uses
/// kept). The OpenVINO emitter maps exactly this to an f16 Const + Convert carrying `decompression` rt_info, which
/// is what `mo --compress_to_fp16` wrote (openvino-ir.md §3). This is the one pass that changes numerics on
/// purpose: each weight moves by at most 2⁻¹¹ relative (half an f16 ulp).
///
/// A constant is cast only when every one of its uses is a weight input listed in `weightInputs`:
/// - Conv/ConvTranspose W, B; Gemm A, B, C; MatMul either side; Einsum operands; PRelu slope; Add/Sub/Mul/Div
///   operands; LayerNormalization/InstanceNormalization/GroupNormalization scale and bias; BatchNormalization scale
///   and B; LSTM/GRU/RNN W, R, B.
/// Everything else stays float32, notably: integer and shape tensors (Reshape/Slice/Gather indices...),
/// BatchNormalization mean/var (var + epsilon under a square root; a converter folds them in f32 anyway),
/// Resize/Upsample scales and roi (they decide output sizes and sampling positions), Pow exponents (errors grow
/// with the base's magnitude), Clip bounds, Pad values, Range/ConstantOfShape/Where inputs, and any constant that
/// also feeds such an input; Add/Sub constants whose result is read by Sqrt, Reciprocal, Log or Pow (the epsilon
/// of a decomposed LayerNorm). It also stays float32 when a value is outside the f16 range (|v| > 65504), not
/// finite, or non-zero but rounds to 0 in f16 (|v| < 2⁻²⁵, e.g. an epsilon of 1e-12), or when it is a graph
/// input or output. Casts are placed at the top of the graph in initializer order. Main graph only.
public struct FP16Casting: Pass {
    public var name: String { "fp16-casting" }

    public init() {}

    /// (op type, input index) pairs that are weights; `nil` index = every input.
    static let weightInputs: [String: Set<Int>?] = [
        "Conv": [1, 2], "ConvTranspose": [1, 2], "Gemm": [0, 1, 2], "MatMul": [0, 1], "Einsum": nil,
        "PRelu": [1], "Add": [0, 1], "Sub": [0, 1], "Mul": [0, 1], "Div": [0, 1],
        "LayerNormalization": [1, 2], "InstanceNormalization": [1, 2], "GroupNormalization": [1, 2],
        "BatchNormalization": [1, 2], "LSTM": [1, 2, 3], "GRU": [1, 2, 3], "RNN": [1, 2, 3],
    ]

    /// Ops whose result is very sensitive to a small change of their input.
    static let sensitiveReaders: Set<String> = ["Sqrt", "Reciprocal", "Log", "Pow"]

    public func run(on model: Model, context: PassContext) throws -> Bool {
        guard context.options.castToFP16 else { return false }
        let rw = GraphRewriter(model: model, context: context)
        var candidates: [Value] = rw.graph.initializers
        for node in rw.graph.nodes where node.opType == "Constant" && isONNX(node) { candidates += node.outputs }
        var casts: [Node] = []
        var replaced: Set<ObjectIdentifier> = []
        for value in candidates {
            guard isCastable(value, rw: rw), let tensor = rw.constant(value), let half = halfPrecision(tensor, arena: rw.arena)
            else { continue }
            let compressed = rw.addInitializer("\(value.name)_compressed", half)
            if let constantNode = value.producer {
                constantNode.setOutputs([])
                rw.graph.remove([constantNode])
            } else {
                value.initializer = nil
                replaced.insert(ObjectIdentifier(value))
            }
            value.type = .tensor(.float, Shape(tensor.shape))
            casts.append(rw.makeNode("Cast", name: "\(value.name)_decompress", inputs: [compressed], outputs: [value],
                                     attributes: [Attribute("to", .int(Int64(ElementType.float.rawValue)))]))
        }
        // One sweep for all replaced initializers (a removeAll per value is quadratic).
        if !replaced.isEmpty { rw.graph.initializers.removeAll { replaced.contains(ObjectIdentifier($0)) } }
        guard !casts.isEmpty else { return false }
        rw.graph.setNodes(casts + rw.graph.nodes)
        return true
    }

    private func isCastable(_ value: Value, rw: GraphRewriter) -> Bool {
        guard !value.uses.isEmpty, !rw.isGraphOutput(value), !rw.isGraphInput(value) else { return false }
        return value.uses.allSatisfy { use in
            guard isONNX(use.node), let allowed = Self.weightInputs[use.node.opType],
                  allowed?.contains(use.index) ?? true else { return false }
            // A constant added right before a square root, reciprocal, log or power is an epsilon or a
            // normalization term (decomposed LayerNorm: Add(var, eps) -> Sqrt): keep it exact.
            if ["Add", "Sub"].contains(use.node.opType) {
                return !use.node.outputs.contains { out in out.uses.contains { Self.sensitiveReaders.contains($0.node.opType) } }
            }
            return true
        }
    }

    /// The tensor as float16, or nil when it is not float32 or a value would not survive the conversion. Converted
    /// in one pass from the float32 buffer into the new tensor's storage (F16C when the CPU has it; the bits are
    /// those of `Float16(v)`, round to nearest even, on every path: Tests/KernelsTests/HalfConversionTests.swift).
    private func halfPrecision(_ tensor: Tensor, arena: WeightArena) -> Tensor? {
        guard tensor.elementType == .float, tensor.storage.byteCount >= tensor.byteCount else { return nil }
        let count = tensor.elementCount
        // Every element is written before the tensor is used (a value that does not convert discards it).
        let storage = arena.uninitializedStorage(byteCount: count * MemoryLayout<UInt16>.stride)
        let out = storage.mutableBaseAddress.bindMemory(to: UInt16.self, capacity: max(count, 1))
        let ok = tensor.withUnsafeBufferPointer(as: Float.self) { values -> Bool in
            guard let base = values.baseAddress else { return true }
            return mcc_half_from_float_exact_range(base, out, count) != 0
        }
        return ok ? Tensor(elementType: .float16, shape: tensor.shape, storage: storage) : nil
    }
}
