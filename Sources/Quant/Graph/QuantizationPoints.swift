import IR

/// Where a quantized graph carries encodings, following what the Qualcomm HTP executes: every float activation
/// between ops is quantized per tensor, weights per output channel, biases as int32, other constant operands per
/// tensor. The analysis is pure; `QDQBuilder` applies a plan to these points.
///
/// Rules:
/// - graph inputs and op outputs that some op reads as data (or that are graph outputs) are activation points;
/// - an op that only moves or selects data (Reshape, Transpose, MaxPool, Slice, Split, nearest Resize, ...) keeps its
///   input's encoding, so its outputs *share* the input's point instead of getting a new one;
/// - Conv/ConvTranspose/Gemm/MatMul/Add followed by their only reader Relu or Clip are fused on the HTP: the
///   pre-activation tensor gets no encoding, the activation's output does;
/// - values computed from constants alone (shape arithmetic) and non-float values are never quantized;
/// - nodes inside subgraphs (If/Loop bodies) are left in float.
public struct QuantizationPoints {
    /// A constant weight of a Conv/ConvTranspose/Gemm/MatMul, quantized symmetrically per output channel.
    public struct Weight {
        public let node: Node
        public let inputIndex: Int
        /// Output-channel axis of the weight tensor.
        public let axis: Int
        /// The activation point feeding the op (its scale times the weight scales is the bias scale).
        public let activation: Value?
    }

    /// A constant bias (Conv/ConvTranspose input 2, Gemm C of rank 1), stored as int32 with scale s_x·s_w.
    public struct Bias {
        public let node: Node
        public let inputIndex: Int
        public let weight: Int
    }

    /// A float constant read as data by an op that is not a weighted op (Add/Mul operands, PRelu slopes, ...).
    public struct Constant {
        public let node: Node
        public let inputIndex: Int
    }

    /// Activation tensors with an encoding of their own, in graph order (graph inputs first).
    public private(set) var activations: [Value] = []
    /// Values that reuse another point's encoding: value → that point.
    public private(set) var shared: [ObjectIdentifier: Value] = [:]
    public private(set) var weights: [Weight] = []
    public private(set) var biases: [Bias] = []
    public private(set) var constants: [Constant] = []

    /// Values per sample over all activation points, from their static shapes; 0 when some shape is not static.
    public var staticElementsPerSample: Int {
        var total = 0
        for value in activations {
            guard let sizes = value.shape?.staticSizes else { return 0 }
            total += sizes.reduce(1, *)
        }
        return total
    }

    /// Ops whose outputs only move, select or take the max of input values: they keep the input's encoding.
    public static let encodingPreserving: Set<String> = [
        "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "MaxPool", "GlobalMaxPool", "Slice", "Split",
        "Identity", "Dropout", "DepthToSpace", "SpaceToDepth", "Gather", "Expand", "Tile", "ReduceMax", "ReduceMin",
    ]

    /// Activations the HTP fuses into the op producing their input.
    public static let fusedActivations: Set<String> = ["Relu", "Clip"]
    static let fusingProducers: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul", "Add"]

    /// Inputs that are parameters (shapes, indices, bounds, normalization statistics), never quantized data.
    static let parameterInputs: [String: Set<Int>] = [
        "Reshape": [1], "Resize": [1, 2, 3], "Upsample": [1], "Slice": [1, 2, 3, 4], "Clip": [1, 2], "Pad": [1, 2, 3],
        "Expand": [1], "Tile": [1], "Gather": [1], "GatherElements": [1], "GatherND": [1], "ScatterND": [1],
        "ScatterElements": [1], "Split": [1], "Squeeze": [1], "Unsqueeze": [1], "ReduceMean": [1], "ReduceSum": [1],
        "ReduceMax": [1], "ReduceMin": [1], "ReduceProd": [1], "ReduceL2": [1], "ReduceL1": [1],
        "ReduceSumSquare": [1], "ReduceLogSumExp": [1], "TopK": [1], "CumSum": [1], "OneHot": [1, 2],
        "BatchNormalization": [1, 2, 3, 4], "InstanceNormalization": [1, 2], "LayerNormalization": [1, 2],
        "GroupNormalization": [1, 2], "Pow": [1], "NonMaxSuppression": [1, 2, 3, 4], "Range": [0, 1, 2],
        "ConstantOfShape": [0], "RoiAlign": [1, 2], "GridSample": [1],
    ]

    public init(model: Model) {
        let graph = model.graph
        let outputs = Set(graph.outputs.map(ObjectIdentifier.init))
        var constantDerived = Set<ObjectIdentifier>()
        var pointOf: [ObjectIdentifier: Value] = [:]

        func isFloat(_ v: Value) -> Bool {
            guard let t = v.elementType else { return true }
            return t == .float || t == .float16 || t == .double || t == .bfloat16
        }
        func isConstant(_ v: Value) -> Bool { v.isConstant || constantDerived.contains(ObjectIdentifier(v)) }
        func readAsData(_ v: Value) -> Bool {
            if outputs.contains(ObjectIdentifier(v)) { return true }
            return v.uses.contains { use in
                !(Self.parameterInputs[use.node.opType]?.contains(use.index) ?? false) && use.node.opType != "Shape"
                    && use.node.opType != "Size"
            }
        }

        for input in graph.inputs where isFloat(input) && !input.isConstant && readAsData(input) {
            activations.append(input)
            pointOf[ObjectIdentifier(input)] = input
        }
        for node in graph.nodes {
            let dataInputs = node.inputs.enumerated().filter { i, v in
                guard let v, !v.isAbsent else { return false }
                return !(Self.parameterInputs[node.opType]?.contains(i) ?? false)
            }
            if node.subgraphs.isEmpty, !node.inputs.isEmpty,
               node.inputs.allSatisfy({ $0 == nil || $0!.isAbsent || isConstant($0!) }) {
                for out in node.outputs { constantDerived.insert(ObjectIdentifier(out)) }
                continue
            }
            for out in node.outputs where !out.isAbsent && isFloat(out) && readAsData(out) {
                if Self.encodingPreserving.contains(node.opType) || Self.isNearestResize(node),
                   let data = node.inputs.first.flatMap({ $0 }), let source = pointOf[ObjectIdentifier(data)] {
                    shared[ObjectIdentifier(out)] = source
                    pointOf[ObjectIdentifier(out)] = source
                    continue
                }
                if Self.fusingProducers.contains(node.opType), !outputs.contains(ObjectIdentifier(out)),
                   out.uses.count == 1, let reader = out.uses.first?.node, reader.graph === graph,
                   Self.fusedActivations.contains(reader.opType), reader.inputs.first.flatMap({ $0 }) === out {
                    continue
                }
                activations.append(out)
                pointOf[ObjectIdentifier(out)] = out
            }
            // Constant operands.
            let weighted = Self.weightAxis(node)
            for (i, v) in dataInputs {
                guard let v, v.isConstant, isFloat(v) else { continue }
                if let weighted, i == weighted.index {
                    let source = node.inputs.first.flatMap { $0 }.flatMap { pointOf[ObjectIdentifier($0)] }
                    weights.append(Weight(node: node, inputIndex: i, axis: weighted.axis, activation: source))
                } else if weighted != nil, i == 2 {
                    // A bias that does not map one-to-one onto output channels (grouped ConvTranspose, broadcast
                    // Gemm C) stays float: the accelerator adds it at accumulator precision anyway.
                    if Self.isBias(node, v) { biases.append(Bias(node: node, inputIndex: i, weight: weights.count - 1)) }
                } else if (v.initializer?.elementCount ?? 0) > 0 {
                    constants.append(Constant(node: node, inputIndex: i))
                }
            }
        }
    }

    /// Weight input index and output-channel axis of a weighted op whose weight is a constant.
    static func weightAxis(_ node: Node) -> (index: Int, axis: Int)? {
        guard node.inputs.count >= 2, let w = node.inputs[1], let t = w.initializer, t.rank >= 2 else { return nil }
        switch node.opType {
        case "Conv": return (1, 0)
        case "ConvTranspose": return (1, 1)
        case "Gemm": return (1, (node.attribute("transB")?.int ?? 0) != 0 ? 0 : 1)
        case "MatMul": return (1, t.rank - 1)
        default: return nil
        }
    }

    /// A rank-1 constant third input of Conv/ConvTranspose/Gemm with one entry per output channel.
    static func isBias(_ node: Node, _ value: Value) -> Bool {
        guard let t = value.initializer, t.rank == 1, let w = node.inputs[1]?.initializer,
              let axis = weightAxis(node)?.axis else { return false }
        switch node.opType {
        case "Conv": return t.shape[0] == w.shape[0]
        case "ConvTranspose":
            let group = Int(node.attribute("group")?.int ?? 1)
            return t.shape[0] == w.shape[1] * group && group == 1
        case "Gemm": return t.shape[0] == w.shape[axis]
        default: return false
        }
    }

    static func isNearestResize(_ node: Node) -> Bool {
        (node.opType == "Resize" || node.opType == "Upsample") && (node.attribute("mode")?.string ?? "nearest") == "nearest"
    }

    /// The point whose encoding `value` carries (itself, or the point it shares), if any.
    public func point(for value: Value) -> Value? {
        if let s = shared[ObjectIdentifier(value)] { return s }
        return activations.contains { $0 === value } ? value : nil
    }
}
