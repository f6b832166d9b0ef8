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

    /// Whether input `index` of an `opType` node is a weight (the list above). A switch rather than a dictionary
    /// of index sets: that table's generic metadata was built at run time on every compile, costing more than
    /// all the lookups.
    static func isWeightInput(_ opType: String, _ index: Int) -> Bool {
        switch opType {
        case "Conv", "ConvTranspose": return index == 1 || index == 2
        case "Gemm": return index <= 2
        case "MatMul": return index <= 1
        case "Einsum": return true
        case "PRelu": return index == 1
        case "Add", "Sub", "Mul", "Div": return index <= 1
        case "LayerNormalization", "InstanceNormalization", "GroupNormalization", "BatchNormalization":
            return index == 1 || index == 2
        case "LSTM", "GRU", "RNN": return (1...3).contains(index)
        default: return false
        }
    }

    /// Ops whose result is very sensitive to a small change of their input.
    static func isSensitiveReader(_ opType: String) -> Bool {
        opType == "Sqrt" || opType == "Reciprocal" || opType == "Log" || opType == "Pow"
    }

    public func run(on model: Model, context: PassContext) throws -> Bool {
        guard context.options.castToFP16 else { return false }
        let rw = GraphRewriter(model: model, context: context)
        var candidates: [Value] = rw.graph.initializers
        for node in rw.graph.nodes where node.opType == "Constant" && isONNX(node) { candidates += node.outputs }
        var casts: [Node] = []
        var replaced: Set<ObjectIdentifier> = []
        for value in candidates {
            guard isCastable(value, rw: rw), let (shape, half) = halfPrecision(of: value, rw: rw) else { continue }
            let compressed = rw.addInitializer("\(value.name)_compressed", half)
            if let constantNode = value.producer {
                constantNode.setOutputs([])
                rw.graph.remove([constantNode])
            } else {
                value.initializer = nil
                replaced.insert(ObjectIdentifier(value))
            }
            value.type = .tensor(.float, Shape(shape))
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
            guard isONNX(use.node), Self.isWeightInput(use.node.opType, use.index) else { return false }
            // A constant added right before a square root, reciprocal, log or power is an epsilon or a
            // normalization term (decomposed LayerNorm: Add(var, eps) -> Sqrt): keep it exact.
            if use.node.opType == "Add" || use.node.opType == "Sub" {
                return !use.node.outputs.contains { out in out.uses.contains { Self.isSensitiveReader($0.node.opType) } }
            }
            return true
        }
    }

    /// The value's shape and float16 form, or nil when it is not float32 or a value would not survive the
    /// conversion. An initializer whose float32 buffer nothing else references (the importer's weights, folded
    /// weights) is converted in that buffer, the float16 tensor viewing its first half: no second buffer, whose
    /// fresh pages cost more than the conversion itself (a 2 MiB page fault on the VMs mcc runs on takes up to
    /// ~1 ms, the conversion of 2 MiB of weights ~0.1 ms). The initializer is cleared while its buffer's uniqueness
    /// is asked (the graph's reference would count) and restored when it is not converted there. Other constants
    /// are range-checked before a buffer is taken for them (weights with values that would vanish in float16 are
    /// common: they used to fill fresh pages before the conversion gave up).
    private func halfPrecision(of value: Value, rw: GraphRewriter) -> (shape: [Int], half: Tensor)? {
        // Paddle exports hold weights in Constant nodes: those are converted in place alike, the node's attribute
        // being the graph's reference.
        if !rw.isGraphInput(value), let holder = ConstantHolder(of: value), var tensor = holder.tensor {
            holder.letGo()
            let conversion = Self.halfPrecisionInPlace(&tensor)
            if case .converted(let half) = conversion { return (half.shape, half) }
            holder.restore(tensor)
            if case .outOfRange = conversion { return nil }
        }
        guard let tensor = rw.constant(value), let half = halfPrecision(tensor, arena: rw.arena) else { return nil }
        return (tensor.shape, half)
    }

    /// What `halfPrecisionInPlace` did.
    enum InPlaceConversion {
        /// The float16 tensor, viewing the first half of the float32 buffer.
        case converted(Tensor)
        /// Nothing written: a value would not survive the conversion.
        case outOfRange
        /// Nothing written: the buffer is not the tensor's alone (or not writable, float32, float-aligned).
        case notEligible
    }

    /// `tensor`'s float16 form written over its own float32 buffer (same bits as `halfPrecision(_:arena:)`), when
    /// that buffer is writable, exactly the tensor's size, float-aligned and referenced by `tensor` alone (Swift's
    /// `isKnownUniquelyReferenced`: any other tensor, value or kept object sharing it keeps the count above one).
    /// The float16 tensor views the buffer's first half and keeps the buffer (and whatever owns it) alive.
    static func halfPrecisionInPlace(_ tensor: inout Tensor) -> InPlaceConversion {
        let count = tensor.elementCount
        guard tensor.elementType == .float, count > 0, tensor.storage.isWritable,
              tensor.storage.byteCount == tensor.byteCount, tensor.storage.isAligned(for: Float.self),
              isKnownUniquelyReferenced(&tensor.storage) else { return .notEligible }
        let base = tensor.storage.mutableBaseAddress
        guard mcc_half_from_float_exact_range_in_place(base.assumingMemoryBound(to: Float.self), count) != 0 else {
            return .outOfRange
        }
        let half = TensorStorage(viewingWritable: UnsafeMutableRawBufferPointer(start: base, count: count * MemoryLayout<UInt16>.stride),
                                 owner: tensor.storage)
        return .converted(Tensor(elementType: .float16, shape: tensor.shape, storage: half))
    }

    /// The tensor as float16, or nil when it is not float32 or a value would not survive the conversion. Converted
    /// in one pass from the float32 buffer into the new tensor's storage (F16C when the CPU has it; the bits are
    /// those of `Float16(v)`, round to nearest even, on every path: Tests/KernelsTests/HalfConversionTests.swift).
    private func halfPrecision(_ tensor: Tensor, arena: WeightArena) -> Tensor? {
        guard tensor.elementType == .float, tensor.storage.byteCount >= tensor.byteCount else { return nil }
        let count = tensor.elementCount
        // Checked before a buffer is taken: no fresh pages filled for a tensor that stays float32.
        let fits = tensor.withUnsafeBufferPointer(as: Float.self) { values -> Bool in
            guard let base = values.baseAddress else { return true }
            return mcc_half_exact_range_holds(base, count) != 0
        }
        guard fits else { return nil }
        // Every element is written before the tensor is used.
        let storage = arena.uninitializedStorage(byteCount: count * MemoryLayout<UInt16>.stride)
        let out = storage.mutableBaseAddress.bindMemory(to: UInt16.self, capacity: max(count, 1))
        let ok = tensor.withUnsafeBufferPointer(as: Float.self) { values -> Bool in
            guard let base = values.baseAddress else { return true }
            return mcc_half_from_float_exact_range(base, out, count) != 0
        }
        return ok ? Tensor(elementType: .float16, shape: tensor.shape, storage: storage) : nil
    }
}
