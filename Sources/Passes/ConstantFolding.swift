import IR
import Interpreter

/// Evaluates nodes whose inputs are all constants and turns their outputs into initializers.
///
/// Rewrite: `%y = Op(%c1, ..., %cn)` with every present input an initializer (and `Constant` nodes, which have no
/// inputs) becomes the initializer `%y = <Op evaluated by the interpreter's kernels>`. The value keeps its name and
/// its uses, so nothing downstream is renamed. Applied in every graph, subgraphs included (a subgraph node that
/// reads outer constants folds into an initializer of the subgraph).
///
/// Not folded:
/// - weight decompression `Cast(float16 initializer, to: FLOAT)` (see `isWeightDecompression`);
/// - nodes holding subgraphs (If/Loop/Scan: their bodies may read non-constant outer values), nodes outside the
///   default domain, random ops (each run must draw new numbers), string outputs;
/// - nodes producing a graph output (a graph output that is an initializer is legal ONNX but trips some runtimes;
///   the node stays and keeps the output's producer);
/// - initializers that are also graph inputs (IR < 4 style) are not constants: the caller may override them;
/// - folds that would grow the model: when the outputs hold more than `maxGrowthBytes` bytes beyond the inputs
///   (e.g. ConstantOfShape/Expand/Tile broadcasting a scalar to an activation-sized tensor).
///
/// Why 1 MiB of growth: every shape computation and small broadcast table (anchors, position grids of a 320x320
/// detector: 2100x2 floats = 16 KiB) stays far below it, while a broadcast to an activation (ConstantOfShape
/// [1,64,160,160] = 6.5 MiB) would bloat the file with data a device computes for free; the node then stays.
/// Outputs whose static size is known beforehand (from shape inference) are checked before evaluating, so a
/// broadcast to billions of elements is never materialised.
public struct ConstantFolding: Pass {
    public var name: String { "constant-folding" }
    /// Constants are read by value, type and shape; single-reader tests only on non-constants (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }
    public var maxGrowthBytes: Int

    public init(maxGrowthBytes: Int = 1 << 20) { self.maxGrowthBytes = maxGrowthBytes }

    /// Ops whose results are not a function of their inputs.
    static let nondeterministicOps: Set<String> = [
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
    ]

    /// `nondeterministicOps.contains(op)` without hashing the name (asked of every node by several passes): every
    /// such op is spelled "Random…", "Multinomial" or "Bernoulli".
    static func isNondeterministic(_ op: String) -> Bool {
        switch op.utf8.first {
        case UInt8(ascii: "R"): return op.hasPrefix("Random") && nondeterministicOps.contains(op)
        case UInt8(ascii: "M"): return op == "Multinomial"
        case UInt8(ascii: "B"): return op == "Bernoulli"
        default: return false
        }
    }
    /// Ops that can produce an output much larger than their inputs; folded only when the size is known upfront.
    static let broadcastingOps: Set<String> = [
        "ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Upsample", "Pad", "EyeLike", "OneHot",
    ]

    public func run(on model: Model, context: PassContext) throws -> Bool {
        var overridable = IdentitySet()
        func collectInputs(_ graph: Graph) {
            for input in graph.inputs { overridable.insert(ObjectIdentifier(input)) }
            for node in graph.nodes { for sub in node.nestedGraphs { collectInputs(sub) } }
        }
        collectInputs(model.graph)
        return try fold(in: model.graph, model: model, overridable: overridable, context: context)
    }

    private func fold(in graph: Graph, model: Model, overridable: IdentitySet, context: PassContext) throws -> Bool {
        var changed = false
        var folded: [Int] = []
        let graphOutputs = IdentitySet(graph.outputs)
        for (position, node) in graph.nodes.enumerated() {
            if !node.nestedGraphs.isEmpty {
                for sub in node.nestedGraphs where try fold(in: sub, model: model, overridable: overridable, context: context) {
                    changed = true
                }
                continue
            }
            if let tensor = Self.constantValue(of: node) {
                // Constant nodes (hundreds in some exports) take a short path with the same checks and result.
                if foldConstantNode(node, tensor: tensor, graphOutputs: graphOutputs, graph: graph) {
                    folded.append(position)
                    changed = true
                }
                continue
            }
            guard isFoldable(node, graphOutputs: graphOutputs, overridable: overridable) else { continue }
            let inputs = node.inputs.map { value in value.flatMap { $0.isAbsent ? nil : $0.initializer } }
            guard fitsGrowthLimit(node, inputs: inputs, precomputed: nil) else { continue }
            let results: [Tensor]
            do {
                results = try Self.constantValue(of: node).map { [$0] }
                    ?? Interpreter.evaluate(node: node, inputs: inputs, opset: model.opsetVersion(for: node.domain) ?? model.defaultOpset)
            } catch let error as MCCError {
                // The node would fail at run time too; leave it for the runtime to report, but tell the user.
                context.warn("\(node.label): not folded, evaluating it on its constant inputs failed: \(error.message)")
                continue
            }
            guard fitsGrowthLimit(node, inputs: inputs, precomputed: results),
                  let assignments = assign(results, to: node) else { continue }
            for (value, tensor) in assignments {
                value.initializer = tensor
                value.type = tensor.valueType
            }
            let outputs = node.outputs
            node.setOutputs([])
            for value in outputs where !value.isAbsent { graph.initializers.append(value) }
            folded.append(position)
            changed = true
        }
        if !folded.isEmpty {
            context.retire(Rewriting.removeNodes(at: folded, from: graph))
        }
        return changed
    }

    /// The general path's steps for a `Constant` node holding a `value` tensor (no inputs, so no evaluation and no
    /// input checks): the same foldability, growth and type checks, without its temporary arrays. A value whose
    /// type already says exactly what the tensor is keeps its type object.
    private func foldConstantNode(_ node: Node, tensor: Tensor, graphOutputs: IdentitySet, graph: Graph) -> Bool {
        let outputs = node.outputs
        guard node.domain.isEmpty || node.domain == "ai.onnx", outputs.contains(where: { !$0.isAbsent }),
              !outputs.contains(where: { graphOutputs.contains(ObjectIdentifier($0)) }),
              tensor.byteCount <= maxGrowthBytes else { return false }
        // The general path's `fitsGrowthLimit` needs no call here: it bounds the declared output size, which the
        // checks below make equal to the tensor's (same element type, same rank and known dims) or leave unknown
        // (which it accepts for Constant).
        for (index, value) in outputs.enumerated() where !value.isAbsent {
            guard index == 0, tensor.elementType != .string else { return false }
            if let declared = value.type?.elementType, declared != tensor.elementType { return false }
            if let shape = value.type?.shape, shape.rank != tensor.rank
                || zip(shape.dims, tensor.shape).contains(where: { d, s in d.value.map { $0 != s } ?? false }) {
                return false
            }
        }
        for value in outputs where !value.isAbsent {
            value.initializer = tensor
            if !Self.isExactly(value.type, tensor) { value.type = tensor.valueType }
        }
        node.setOutputs([])
        for value in outputs where !value.isAbsent { graph.initializers.append(value) }
        return true
    }

    /// Whether `type` equals `tensor.valueType` (a tensor type with the tensor's element type and known dims).
    private static func isExactly(_ type: ValueType?, _ tensor: Tensor) -> Bool {
        guard case .tensor(let element, let shape?) = type, element == tensor.elementType,
              shape.dims.count == tensor.shape.count else { return false }
        for (d, s) in zip(shape.dims, tensor.shape) {
            guard case .known(let v) = d, v == s else { return false }
        }
        return true
    }

    private func isFoldable(_ node: Node, graphOutputs: IdentitySet, overridable: IdentitySet) -> Bool {
        // Cheapest test first: most nodes read an activation and fail here without hashing anything.
        for input in node.inputs {
            guard let input, !input.isAbsent else { continue }
            guard input.initializer != nil else { return false }
        }
        guard node.domain.isEmpty || node.domain == "ai.onnx",
              !Self.isNondeterministic(node.opType),
              node.outputs.contains(where: { !$0.isAbsent }),
              !node.outputs.contains(where: { graphOutputs.contains(ObjectIdentifier($0)) }) else { return false }
        if Self.isWeightDecompression(node) { return false }
        for input in node.inputs {
            guard let input, !input.isAbsent else { continue }
            guard !overridable.contains(ObjectIdentifier(input)) else { return false }
        }
        return true
    }

    /// The tensor of a `Constant` node holding a `value` tensor: exactly what the interpreter's Constant kernel
    /// returns for it (its first attribute), without setting up an interpreter per node (weights of exported
    /// models are often hundreds of Constant nodes). Nil for other nodes and other Constant forms.
    static func constantValue(of node: Node) -> Tensor? {
        guard Rewriting.isNamed(node.opType, "Constant"), node.inputs.isEmpty, let first = node.attributes.first,
              case .tensor(let tensor) = first.value else { return nil }
        return tensor
    }

    /// `Cast(float16 initializer, to: FLOAT)`: weights stored as float16 on purpose (FP16Casting, or an fp16
    /// model), which the OpenVINO emitter maps to an f16 Const + Convert(decompression). Folding it would undo the
    /// compression, so it stays.
    static func isWeightDecompression(_ node: Node) -> Bool {
        guard node.opType == "Cast", let source = node.input(0), let data = source.initializer, data.elementType == .float16,
              let to = node.attribute("to"), case .int(let code) = to.value else { return false }
        return code == Int64(ElementType.float.rawValue)
    }

    /// Checks the growth limit from the inferred output sizes (before evaluating) or from the results.
    private func fitsGrowthLimit(_ node: Node, inputs: [Tensor?], precomputed results: [Tensor]?) -> Bool {
        let inputBytes = inputs.reduce(0) { $0 + ($1?.byteCount ?? 0) }
        if let results {
            return results.reduce(0) { $0 + $1.byteCount } <= inputBytes + maxGrowthBytes
        }
        var outputBytes = 0
        for output in node.outputs where !output.isAbsent {
            guard let type = output.type, let sizes = type.shape?.staticSizes, let elementType = type.elementType,
                  let count = checkedElementCount(sizes) else {
                // Unknown size: only ops that cannot blow up are evaluated blind.
                return !Self.broadcastingOps.contains(node.opType)
            }
            outputBytes += elementType.byteCount(for: count)
        }
        return outputBytes <= inputBytes + maxGrowthBytes
    }

    /// Pairs results with the node's present outputs; nil when the kernel left a present output out or a result
    /// contradicts the output's declared element type (then the node is better left alone).
    private func assign(_ results: [Tensor], to node: Node) -> [(Value, Tensor)]? {
        var pairs: [(Value, Tensor)] = []
        for (index, value) in node.outputs.enumerated() where !value.isAbsent {
            guard index < results.count else { return nil }
            let tensor = results[index]
            guard tensor.elementType != .string else { return nil }
            if let declared = value.type?.elementType, declared != tensor.elementType { return nil }
            if let shape = value.type?.shape, shape.rank != tensor.rank
                || zip(shape.dims, tensor.shape).contains(where: { d, s in d.value.map { $0 != s } ?? false }) {
                return nil
            }
            pairs.append((value, tensor))
        }
        return pairs
    }
}
