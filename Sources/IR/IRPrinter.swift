/// Renders a model as readable text for `--print-after` / `--dump-ir` and test failure messages.
///
/// One line per node, `%out:f32[1,3,224,224] = Conv(%x, %w) {kernel_shape=[3,3], ...}`; initializers are
/// summarised (type and byte size; values only for tensors of at most `maxPrintedElements` elements), never
/// dumped. Subgraphs are printed indented under the node that holds them.
public struct IRPrinter {
    /// Tensors up to this many elements show their values (shape constants, axes, scalars).
    public var maxPrintedElements = 8

    public init() {}

    public func print(_ model: Model) -> String {
        var lines: [String] = []
        let opsets = model.opsetImports.map { "\($0.domain.isEmpty ? "ai.onnx" : $0.domain)=\($0.version)" }
        lines.append("model ir_version=\(model.irVersion) opsets=[\(opsets.joined(separator: ", "))]")
        append(model.graph, keyword: "graph", indent: "", to: &lines)
        for function in model.functions {
            append(function.body, keyword: "function \(function.domain).\(function.name)", indent: "", to: &lines)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func print(_ graph: Graph) -> String {
        var lines: [String] = []
        append(graph, keyword: "graph", indent: "", to: &lines)
        return lines.joined(separator: "\n") + "\n"
    }

    private func append(_ graph: Graph, keyword: String, indent: String, to lines: inout [String]) {
        let inputs = graph.inputs.map(typed).joined(separator: ", ")
        lines.append("\(indent)\(keyword) \(graph.name.isEmpty ? "<unnamed>" : graph.name)(\(inputs)) {")
        let inner = indent + "  "
        if !graph.initializers.isEmpty {
            let bytes = graph.initializers.reduce(0) { $0 + ($1.initializer?.byteCount ?? 0) }
            lines.append("\(inner)// \(graph.initializers.count) initializers, \(formatBytes(bytes))")
            for value in graph.initializers { lines.append("\(inner)\(typed(value)) = \(summary(value.initializer))") }
        }
        for node in graph.nodes {
            let outputs = node.outputs.map { $0.isAbsent ? "_" : typed($0) }.joined(separator: ", ")
            let inputs = node.inputs.map { value in value.map { $0.isAbsent ? "_" : "%\($0.name)" } ?? "_" }
            let op = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
            let plain = node.attributes.filter { $0.subgraphs.isEmpty }
            let attributes = plain.isEmpty ? "" : " {" + plain.map(describe).joined(separator: ", ") + "}"
            let name = node.name.isEmpty ? "" : "  // \(node.name)"
            lines.append("\(inner)\(outputs) = \(op)(\(inputs.joined(separator: ", ")))\(attributes)\(name)")
            for attribute in node.attributes {
                for sub in attribute.subgraphs {
                    append(sub, keyword: attribute.name + ":", indent: inner + "  ", to: &lines)
                }
            }
        }
        lines.append("\(inner)return \(graph.outputs.map { "%\($0.name)" }.joined(separator: ", "))")
        lines.append("\(indent)}")
    }

    private func typed(_ value: Value) -> String { "%\(value.name):\(typeText(value.type))" }

    private func typeText(_ type: ValueType?) -> String {
        guard let type else { return "?" }
        switch type {
        case .tensor(let e, let s): return shortName(e) + (s.map(\.description) ?? "[*]")
        default: return type.description
        }
    }

    private func shortName(_ type: ElementType) -> String {
        switch type {
        case .float: "f32"
        case .float16: "f16"
        case .double: "f64"
        case .bfloat16: "bf16"
        case .int8: "i8"
        case .uint8: "u8"
        case .int16: "i16"
        case .uint16: "u16"
        case .int32: "i32"
        case .uint32: "u32"
        case .int64: "i64"
        case .uint64: "u64"
        default: type.description
        }
    }

    private func summary(_ tensor: Tensor?) -> String {
        guard let tensor else { return "initializer(no data)" }
        if tensor.elementCount <= maxPrintedElements, tensor.elementType != .string {
            return "const " + values(tensor)
        }
        return "initializer(\(formatBytes(tensor.byteCount)))"
    }

    private func values(_ tensor: Tensor) -> String {
        let text: [String]
        if tensor.elementType.isInteger || tensor.elementType == .bool {
            text = tensor.int64Values().map(String.init)
        } else {
            text = tensor.floatValues().map { "\($0)" }
        }
        return "[" + text.joined(separator: ",") + "]"
    }

    private func describe(_ attribute: Attribute) -> String {
        let value: String
        switch attribute.value {
        case .float(let v): value = "\(v)"
        case .int(let v): value = "\(v)"
        case .string: value = "\"\(attribute.string ?? "")\""
        case .floats(let v): value = "[" + v.map { "\($0)" }.joined(separator: ",") + "]"
        case .ints(let v): value = "[" + v.map(String.init).joined(separator: ",") + "]"
        case .strings: value = "[" + (attribute.strings ?? []).map { "\"\($0)\"" }.joined(separator: ",") + "]"
        case .tensor(let t): value = typeText(t.valueType) + " " + summary(t)
        case .tensors(let ts): value = "[\(ts.count) tensors]"
        case .type(let t): value = typeText(t)
        case .types(let ts): value = "[" + ts.map(typeText).joined(separator: ",") + "]"
        case .sparseTensor(let s): value = "sparse\(s.dims)"
        case .sparseTensors(let ss): value = "[\(ss.count) sparse tensors]"
        case .graph, .graphs: value = "<graph>"
        }
        return "\(attribute.name)=\(value)"
    }

    private func formatBytes(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1 << 20 { return "\((bytes * 10 / 1024).formatted1) KiB" }
        return "\((bytes * 10 / (1 << 20)).formatted1) MiB"
    }
}

private extension Int {
    /// A count of tenths as "12.3".
    var formatted1: String { "\(self / 10).\(self % 10)" }
}
