import IR

/// Replaces shape queries of statically shaped values with constants.
///
/// Rewrite: `%s = Shape(%x)` with `%x`'s shape fully static becomes the int64 initializer
/// `%s = x.shape[start:end]` (opset 15 `start`/`end` attributes honoured, negative ones counted from the end,
/// clamped as ONNX specifies); `%n = Size(%x)` becomes the int64 scalar `%n = prod(x.shape)`. The value keeps its
/// name and uses. The Gather/Concat/Slice/Unsqueeze chains that consumed them then fold in ConstantFolding.
///
/// Shapes come from `Value.type`, filled by shape inference before the pipeline (with the user's `--shape`) and
/// kept by every pass for the values it creates (the `Pass` contract). Not folded: outputs that are graph outputs
/// (as in ConstantFolding), inputs without a static shape.
public struct ShapeFolding: Pass {
    public var name: String { "shape-folding" }
    /// Constants are read by value, type and shape; single-reader tests only on non-constants (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }

    public init() {}

    public func run(on model: Model, context: PassContext) throws -> Bool { fold(in: model.graph, context: context) }

    private func fold(in graph: Graph, context: PassContext) -> Bool {
        var changed = false
        var folded: [Int] = []
        for (position, node) in graph.nodes.enumerated() {
            for sub in node.nestedGraphs where fold(in: sub, context: context) { changed = true }
            guard Rewriting.isDefaultDomain(node),
                  Rewriting.isNamed(node.opType, "Shape") || Rewriting.isNamed(node.opType, "Size"),
                  let output = node.outputs.first, !output.isAbsent, node.outputs.count == 1,
                  !graph.outputs.contains(where: { $0 === output }),
                  let sizes = Rewriting.staticShape(node.input(0)) else { continue }
            let tensor: Tensor
            if node.opType == "Size" {
                tensor = Tensor(int64s: [Int64(sizes.reduce(1, *))], shape: [])
            } else {
                let range = Self.shapeRange(rank: sizes.count, start: node.attribute("start")?.int,
                                            end: node.attribute("end")?.int)
                tensor = Tensor(int64s: sizes[range].map(Int64.init), shape: [range.count])
            }
            node.setOutputs([])
            output.initializer = tensor
            output.type = tensor.valueType
            graph.initializers.append(output)
            folded.append(position)
            changed = true
        }
        if !folded.isEmpty {
            context.retire(Rewriting.removeNodes(at: folded, from: graph))
        }
        return changed
    }

    /// Shape's `start`/`end` (opset 15): negative values count from the end; both are clamped to [0, rank].
    static func shapeRange(rank: Int, start: Int64?, end: Int64?) -> Range<Int> {
        func clamp(_ v: Int64?, _ fallback: Int) -> Int {
            guard let v else { return fallback }
            let i = v < 0 ? Int(clamping: v) + rank : Int(clamping: v)
            return min(max(i, 0), rank)
        }
        let lower = clamp(start, 0), upper = clamp(end, rank)
        return lower..<max(lower, upper)
    }
}
