import Foundation
import IR

/// What `mcc inspect` reports about a model: I/O, opsets, op histogram, parameters and dynamic dims.
/// Keys are snake_case and sorted on output so the JSON is byte-stable.
public struct ModelSummary: Encodable {
    public struct TensorInfo: Encodable {
        public var name: String
        public var dtype: String
        /// Dims as numbers, symbolic names as strings, unknown dims as "?"; nil for unknown rank.
        public var shape: [DimValue]?
        public var dynamicDims: [Int]

        enum CodingKeys: String, CodingKey {
            case name, dtype, shape
            case dynamicDims = "dynamic_dims"
        }
    }

    public enum DimValue: Encodable {
        case size(Int)
        case name(String)

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .size(let v): try container.encode(v)
            case .name(let s): try container.encode(s)
            }
        }
    }

    public var file: String
    public var irVersion: Int64
    public var producer: String
    public var opsetImport: [String: Int64]
    public var inputs: [TensorInfo]
    public var outputs: [TensorInfo]
    public var nodeCount: Int
    public var subgraphCount: Int
    public var functionCount: Int
    public var opHistogram: [String: Int]
    public var initializerCount: Int
    public var parameterCount: Int
    public var parameterBytes: Int
    public var hasDynamicDims: Bool

    enum CodingKeys: String, CodingKey {
        case file, producer, inputs, outputs
        case irVersion = "ir_version"
        case opsetImport = "opset_import"
        case nodeCount = "node_count"
        case subgraphCount = "subgraph_count"
        case functionCount = "function_count"
        case opHistogram = "op_histogram"
        case initializerCount = "initializer_count"
        case parameterCount = "param_count"
        case parameterBytes = "param_bytes"
        case hasDynamicDims = "dynamic_input_shapes"
    }

    public init(model: Model, file: String) {
        self.file = file
        irVersion = model.irVersion
        producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        opsetImport = Dictionary(model.opsetImports.map { ($0.domain.isEmpty ? "ai.onnx" : $0.domain, $0.version) },
                                 uniquingKeysWith: { a, _ in a })
        inputs = model.graph.inputs.map(Self.info)
        outputs = model.graph.outputs.map(Self.info)
        hasDynamicDims = inputs.contains { !$0.dynamicDims.isEmpty || $0.shape == nil }

        var histogram: [String: Int] = [:]
        var subgraphs = 0
        var parameters = 0
        var bytes = 0
        var initializers = 0
        func count(_ tensor: Tensor) {
            parameters += tensor.elementCount
            bytes += tensor.elementType == .string ? tensor.strings.reduce(0) { $0 + $1.count } : tensor.byteCount
        }
        func walk(_ graph: Graph) {
            initializers += graph.initializers.count
            for value in graph.initializers { if let t = value.initializer { count(t) } }
            for node in graph.nodes {
                let key = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain)::\(node.opType)"
                histogram[key, default: 0] += 1
                if node.opType == "Constant", node.domain.isEmpty, let t = node.attribute("value")?.tensor { count(t) }
                for sub in node.subgraphs {
                    subgraphs += 1
                    walk(sub)
                }
            }
        }
        walk(model.graph)
        nodeCount = histogram.values.reduce(0, +)
        subgraphCount = subgraphs
        functionCount = model.functions.count
        opHistogram = histogram
        initializerCount = initializers
        parameterCount = parameters
        parameterBytes = bytes
    }

    private static func info(_ value: Value) -> TensorInfo {
        let shape = value.shape
        let dims: [DimValue]? = shape?.dims.map { dim in
            switch dim {
            case .known(let v): .size(v)
            case .symbolic(let s): .name(s)
            case .unknown: .name("?")
            }
        }
        let dtype: String
        switch value.type {
        case .tensor(let e, _)?: dtype = e.description
        case let other?: dtype = other.description
        case nil: dtype = "unknown"
        }
        return TensorInfo(name: value.name, dtype: dtype, shape: dims, dynamicDims: shape?.dynamicAxes ?? [])
    }

    /// The human-readable form.
    public var text: String {
        var lines: [String] = []
        lines.append("model      \(file)")
        lines.append("ir_version \(irVersion)   producer \(producer.isEmpty ? "-" : producer)")
        lines.append("opsets     " + opsetImport.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        func describe(_ t: TensorInfo) -> String {
            let dims = t.shape.map { "[" + $0.map { d in
                switch d {
                case .size(let v): String(v)
                case .name(let s): s
                } }.joined(separator: ", ") + "]" } ?? "[unknown rank]"
            let dynamic = t.dynamicDims.isEmpty ? "" : "   dynamic dims \(t.dynamicDims)"
            return "  \(t.name)  \(t.dtype) \(dims)\(dynamic)"
        }
        lines.append("inputs (\(inputs.count))")
        lines += inputs.map(describe)
        lines.append("outputs (\(outputs.count))")
        lines += outputs.map(describe)
        lines.append("nodes      \(nodeCount) (\(subgraphCount) subgraphs, \(functionCount) functions)")
        lines.append("parameters \(parameterCount) in \(initializerCount) initializers + constants, \(formatBytes(parameterBytes))")
        lines.append("ops")
        for (op, n) in opHistogram.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            lines.append("  \(op.padding(toLength: max(op.count, 24), withPad: " ", startingAt: 0)) \(n)")
        }
        return lines.joined(separator: "\n")
    }
}

func formatBytes(_ n: Int) -> String {
    if n >= 1 << 20 { return "\(Double(n * 10 / (1 << 20)) / 10) MiB" }
    if n >= 1 << 10 { return "\(Double(n * 10 / (1 << 10)) / 10) KiB" }
    return "\(n) B"
}
