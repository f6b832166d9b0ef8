import COnnx
import CProtobufC
import IR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Loads ONNX models (`ModelProto`) into the IR. The file is memory-mapped and unpacked once by protobuf-c; the
/// unpacked message then stays alive, owned by the initializer tensors that view its raw_data, so weights are
/// never copied a second time. External data is mapped from files beside the model.
public enum ONNXReader {
    /// IR versions the reader accepts: ONNX 1.2's IR 3 up to IR 14 (onnx 1.23), the newest in the vendored
    /// schema. Newer versions are refused rather than silently misread.
    public static let supportedIRVersions: ClosedRange<Int64> = 3...14

    /// Loads the model at `path`. Errors are one-line `MCCError`s that start with `path`.
    public static func load(path: String) throws -> Model {
        let message = UnpackedHandoff(try unpack(path: path))
        // Weights arrive on another thread while the graph is lifted (which only needs their addresses).
        defer {
            try? message.unpacked?.pendingWeights?.wait()
            // Thousands of node messages (those no tensor views) are freed on another thread: the caller's next
            // stages do not wait for it.
            if message.unpacked?.parts != nil { BackgroundWork.detach { message.release() } }
        }
        guard let unpacked = message.unpacked else { throw parseFailed(path) }
        return try lift(unpacked, baseDirectory: directory(of: path), label: path)
    }

    /// An unpacked message whose last reference can move to another thread.
    private final class UnpackedHandoff: @unchecked Sendable {
        private(set) var unpacked: Unpacked?
        init(_ unpacked: Unpacked) { self.unpacked = unpacked }
        func release() { unpacked = nil }
    }

    /// Loads a model from serialized bytes. External data is resolved against `baseDirectory`; `label` names
    /// the model in errors.
    public static func load(bytes: UnsafeRawBufferPointer, baseDirectory: String, label: String) throws -> Model {
        let message = try unpack(bytes, label: label)
        defer { try? message.pendingWeights?.wait() }
        return try lift(message, baseDirectory: baseDirectory, label: label)
    }

    /// Convenience for tests: loads a model from a byte array.
    public static func load(bytes: [UInt8], baseDirectory: String = ".", label: String = "<memory>") throws -> Model {
        try bytes.withUnsafeBytes { try load(bytes: $0, baseDirectory: baseDirectory, label: label) }
    }

    /// An unpacked ModelProto. When `parts` is set, the main graph's nodes and initializers were unpacked one by
    /// one (SplitUnpack.swift) and are not in `model.graph`.
    struct Unpacked {
        let model: UnsafeMutablePointer<Onnx__ModelProto>
        let owner: UnpackedMessage
        var parts: SeparatelyUnpackedGraph? = nil
        /// Weights still being copied into the pieces' raw_data (SplitUnpack.swift); joined before `load` returns.
        var pendingWeights: BackgroundWork? = nil
    }

    private static func unpack(path: String) throws -> Unpacked {
        // protobuf-c copies every bytes field out of the mapping, which only lives through unpack.
        let file = try MappedFile(path: path)
        // Weights are read with pread (no mapping of their pages); only framing and small pieces touch the mapping.
        let descriptor = open(path, O_RDONLY)
        defer { if descriptor >= 0 { close(descriptor) } }
        if let unpacked = try unpackSplit(file.bytes, label: path, descriptor: descriptor >= 0 ? descriptor : nil,
                                          mapping: file) {
            return unpacked
        }
        populate(file.bytes)
        return try unpack(file.bytes, label: path)
    }

    static func unpack(_ bytes: UnsafeRawBufferPointer, label: String) throws -> Unpacked {
        try checkSize(bytes, label: label)
        guard let model = onnx__model_proto__unpack(nil, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)) else {
            throw parseFailed(label)
        }
        return Unpacked(model: model, owner: UnpackedMessage { onnx__model_proto__free_unpacked(model, nil) })
    }

    static func checkSize(_ bytes: UnsafeRawBufferPointer, label: String) throws {
        guard bytes.count > 0, bytes.baseAddress != nil else {
            throw MCCError.failure("\(label): not a valid ONNX model (file is empty)")
        }
        guard bytes.count < protobufMessageLimit else {
            throw MCCError.failure("\(label): model is \(bytes.count) bytes; protobuf cannot parse 2 GiB or more, "
                + "so save the weights as external data (onnx.save_model(..., save_as_external_data=True))")
        }
    }

    static func parseFailed(_ label: String) -> MCCError {
        MCCError.failure("\(label): not a valid ONNX model (protobuf parse failed)")
    }

    private static func lift(_ unpacked: Unpacked, baseDirectory: String, label: String) throws -> Model {
        let m = unpacked.model.pointee
        guard m.has_ir_version != 0 else { throw MCCError.failure("\(label): not a valid ONNX model (no ir_version)") }
        guard supportedIRVersions.contains(m.ir_version) else {
            throw MCCError.unsupported("\(label): ONNX IR version \(m.ir_version) is not supported "
                + "(supported: \(supportedIRVersions.lowerBound)-\(supportedIRVersions.upperBound))")
        }
        guard let graphProto = m.graph else { throw MCCError.failure("\(label): model has no graph") }
        let decoder = TensorDecoder(label: label, owner: unpacked.owner,
                                    external: ExternalDataResolver(label: label, baseDirectory: baseDirectory))
        let lifter = GraphLifter(decoder: decoder)
        lifter.mainParts = unpacked.parts
        let graph = try lifter.graph(graphProto, isMain: true)
        guard !graph.nodes.isEmpty || !graph.outputs.isEmpty else { throw MCCError.failure("\(label): graph is empty") }

        let model = Model(graph: graph)
        model.irVersion = m.ir_version
        model.opsetImports = opsets(m.opset_import, m.n_opset_import)
        model.producerName = string(m.producer_name)
        model.producerVersion = string(m.producer_version)
        model.domain = string(m.domain)
        model.modelVersion = m.has_model_version != 0 ? m.model_version : 0
        model.docString = string(m.doc_string)
        model.metadataProps = keyValues(m.metadata_props, m.n_metadata_props)
        model.functions = try messages(m.functions, m.n_functions).map(lifter.function)
        do { try Verifier.verify(model) } catch let error as MCCError { throw error.prefixed(label) }
        return model
    }
}

func opsets(_ p: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__OperatorSetIdProto>?>?, _ n: Int) -> [OpsetImport] {
    messages(p, n).map { OpsetImport(domain: string($0.pointee.domain), version: $0.pointee.version) }
}

/// Lifts graphs, nodes, attributes and functions, resolving value names by lexical scope: a subgraph sees the
/// values of every enclosing graph, so its nodes are linked to the outer `Value` objects.
final class GraphLifter {
    let decoder: TensorDecoder
    private var label: String { decoder.label }
    /// Names visible in each enclosing graph, innermost last.
    private var scopes: [[String: Value]] = []
    /// The main graph's nodes and initializers when they were unpacked one by one (not in the GraphProto).
    var mainParts: SeparatelyUnpackedGraph?
    /// Owner of the message the node being lifted came from (tensor attributes view it); nil: the decoder's.
    private var currentOwner: AnyObject?

    init(decoder: TensorDecoder) { self.decoder = decoder }

    private func lookup(_ name: String) -> Value? {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return nil
    }

    private func define(_ value: Value) {
        guard !value.isAbsent else { return }
        scopes[scopes.count - 1][value.name] = value
    }

    func graph(_ proto: UnsafeMutablePointer<Onnx__GraphProto>, isMain: Bool) throws -> Graph {
        let g = proto.pointee
        let graph = Graph(name: string(g.name))
        let context = isMain ? "" : "subgraph '\(graph.name)': "
        graph.docString = string(g.doc_string)
        graph.metadataProps = keyValues(g.metadata_props, g.n_metadata_props)
        scopes.append([:])
        defer { scopes.removeLast() }

        let parts = isMain ? mainParts : nil
        // A subgraph lives in the message of the node whose attribute holds it.
        let enclosingOwner = currentOwner ?? decoder.owner
        let initializers: [(proto: UnsafeMutablePointer<Onnx__TensorProto>, owner: AnyObject)] =
            parts?.initializers.map { ($0.proto, $0.owner) } ?? messages(g.initializer, g.n_initializer).map { ($0, enclosingOwner) }
        for (i, (t, owner)) in initializers.enumerated() {
            let name = string(t.pointee.name)
            guard !name.isEmpty else { throw MCCError.failure("\(label): \(context)initializer #\(i) has no name") }
            let value = Value(name: name, initializer: try decoder.tensor(t, what: "\(context)initializer '\(name)'",
                                                                          owner: owner))
            value.docString = string(t.pointee.doc_string)
            value.metadataProps = keyValues(t.pointee.metadata_props, t.pointee.n_metadata_props)
            graph.initializers.append(value)
            define(value)
        }
        for s in messages(g.sparse_initializer, g.n_sparse_initializer) {
            let name = string(s.pointee.values?.pointee.name)
            let what = "\(context)sparse initializer '\(name)'"
            guard !name.isEmpty else { throw MCCError.failure("\(label): \(what) has no name") }
            let dense: Tensor
            do { dense = try decoder.sparseTensor(s, what: what, owner: enclosingOwner).densified() } catch let error as MCCError {
                throw error.message.hasPrefix(label) ? error : MCCError(error.kind, "\(label): \(what): \(error.message)")
            }
            let value = Value(name: name, initializer: dense)
            graph.initializers.append(value)
            define(value)
        }
        let initializerNames = Set(graph.initializers.map(\.name))
        for info in messages(g.input, g.n_input) {
            let name = string(info.pointee.name)
            // IR 3 lists every initializer as an input too; the initializer is the value.
            guard !initializerNames.contains(name) else { continue }
            let value = Value(name: name, type: try valueType(info.pointee.type, "\(label): \(context)input '\(name)'"))
            applyInfo(info, to: value)
            graph.inputs.append(value)
            define(value)
        }

        // Outputs are defined before inputs are resolved, so node order in the file does not matter (sorted below).
        let nodeProtos: [(proto: UnsafeMutablePointer<Onnx__NodeProto>, owner: AnyObject)] =
            parts?.nodes.map { ($0.proto, $0.owner) } ?? messages(g.node, g.n_node).map { ($0, enclosingOwner) }
        let nodes = nodeProtos.map { makeNode($0.proto) }
        for node in nodes { for output in node.outputs { define(output) } }
        for (node, (proto, owner)) in zip(nodes, nodeProtos) {
            let outer = currentOwner
            currentOwner = owner
            defer { currentOwner = outer }
            try link(node, proto, context: context)
            graph.append(node)
        }

        for info in messages(g.output, g.n_output) {
            let name = string(info.pointee.name)
            guard let value = lookup(name) else {
                throw MCCError.failure("\(label): \(context)graph output '\(name)' is not defined")
            }
            if let type = try valueType(info.pointee.type, "\(label): \(context)output '\(name)'"),
               value.producer != nil || value.type == nil {
                value.type = type
            }
            applyInfo(info, to: value)
            graph.outputs.append(value)
        }
        try applyValueInfo(messages(g.value_info, g.n_value_info), graph: graph, context: context)
        do { try graph.sortTopologically() } catch let error as MCCError {
            throw MCCError(error.kind, "\(label): \(context)\(error.message)")
        }
        return graph
    }

    private func applyInfo(_ info: UnsafeMutablePointer<Onnx__ValueInfoProto>, to value: Value) {
        if value.docString.isEmpty { value.docString = string(info.pointee.doc_string) }
        if value.metadataProps.isEmpty { value.metadataProps = keyValues(info.pointee.metadata_props, info.pointee.n_metadata_props) }
    }

    /// Puts value_info types on the values of this graph; entries for other names are kept for round trips.
    private func applyValueInfo(_ infos: [UnsafeMutablePointer<Onnx__ValueInfoProto>], graph: Graph, context: String) throws {
        for info in infos {
            let name = string(info.pointee.name)
            let type = try valueType(info.pointee.type, "\(label): \(context)value_info '\(name)'")
            if let value = scopes.last?[name] {
                if value.type == nil { value.type = type }
                applyInfo(info, to: value)
            } else {
                let value = Value(name: name, type: type)
                applyInfo(info, to: value)
                graph.extraValueInfo.append(value)
            }
        }
    }

    private func makeNode(_ proto: UnsafeMutablePointer<Onnx__NodeProto>) -> Node {
        let n = proto.pointee
        let outputs = strings(n.output, n.n_output).map { Value(name: $0) }
        let node = Node(string(n.op_type), domain: string(n.domain), name: string(n.name), outputs: outputs)
        node.overload = string(n.overload)
        node.docString = string(n.doc_string)
        node.metadataProps = keyValues(n.metadata_props, n.n_metadata_props)
        return node
    }

    /// Resolves the node's inputs and lifts its attributes (subgraphs see everything defined so far).
    private func link(_ node: Node, _ proto: UnsafeMutablePointer<Onnx__NodeProto>, context: String) throws {
        let n = proto.pointee
        for (i, name) in strings(n.input, n.n_input).enumerated() {
            if name.isEmpty { node.appendInput(nil); continue }
            guard let value = lookup(name) else {
                throw MCCError.failure("\(label): \(context)\(node.label) input \(i) '\(name)' is not defined")
            }
            node.appendInput(value)
        }
        node.attributes = try messages(n.attribute, n.n_attribute).map {
            try attribute($0, owner: "\(context)\(node.label)")
        }
    }

    /// `owner` names the node in errors; it is only built when one is reported.
    func attribute(_ proto: UnsafeMutablePointer<Onnx__AttributeProto>, owner: @autoclosure () -> String) throws -> Attribute {
        let a = proto.pointee
        let name = string(a.name)
        var what: String { "\(owner()) attribute '\(name)'" }
        let ref = optionalString(a.ref_attr_name)
        let type = a.has_type != 0 && a.type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED ? a.type : inferredType(a)
        func missing() -> MCCError { MCCError.failure("\(label): \(what) has no value") }
        let value: AttributeValue
        switch type {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: value = .float(a.f)
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: value = .int(a.i)
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: value = .string(bytes(a.s))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
            if let t = a.t { value = .tensor(try decoder.tensor(t, what: what, owner: currentOwner)) }
            else if ref != nil { value = .tensor(Tensor(zeros: .float, shape: [0])) }
            else { throw missing() }
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
            if let g = a.g { value = .graph(try graph(g, isMain: false)) }
            else if ref != nil { value = .graph(Graph()) }
            else { throw missing() }
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
            if let s = a.sparse_tensor { value = .sparseTensor(try decoder.sparseTensor(s, what: what, owner: currentOwner)) }
            else if ref != nil { value = .sparseTensor(SparseTensor(values: Tensor(zeros: .float, shape: [0]),
                                                                    indices: Tensor(zeros: .int64, shape: [0]), dims: [0])) }
            else { throw missing() }
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: value = .type(try valueType(a.tp, "\(label): \(what)"))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: value = .floats(Array(repeated(a.floats, a.n_floats)))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: value = .ints(Array(repeated(a.ints, a.n_ints)))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: value = .strings(repeated(a.strings, a.n_strings).map(bytes))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
            value = .tensors(try messages(a.tensors, a.n_tensors).map { try decoder.tensor($0, what: what, owner: currentOwner) })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
            value = .graphs(try messages(a.graphs, a.n_graphs).map { try graph($0, isMain: false) })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
            value = .sparseTensors(try messages(a.sparse_tensors, a.n_sparse_tensors).map {
                try decoder.sparseTensor($0, what: what, owner: currentOwner)
            })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS:
            value = .types(try messages(a.type_protos, a.n_type_protos).map { try valueType($0, "\(label): \(what)") })
        default:
            throw MCCError.unsupported("\(label): \(what) has unsupported type \(type.rawValue)")
        }
        return Attribute(name, value, refAttrName: ref, docString: string(a.doc_string))
    }

    /// For IR 1 files that leave `type` unset: the type of whichever value field is present.
    private func inferredType(_ a: Onnx__AttributeProto) -> Onnx__AttributeProto__AttributeType {
        if a.t != nil { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR }
        if a.g != nil { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH }
        if a.sparse_tensor != nil { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR }
        if a.tp != nil { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO }
        if a.n_floats > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS }
        if a.n_ints > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS }
        if a.n_strings > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS }
        if a.n_tensors > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS }
        if a.n_graphs > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS }
        if a.has_f != 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT }
        if a.has_i != 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT }
        if a.has_s != 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING }
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED
    }

    /// A model-local function: its formal inputs become the body graph's inputs; names resolve in the body only.
    func function(_ proto: UnsafeMutablePointer<Onnx__FunctionProto>) throws -> Function {
        let f = proto.pointee
        let name = string(f.name)
        let context = "function '\(name)': "
        let body = Graph(name: name)
        let saved = scopes
        scopes = [[:]]
        defer { scopes = saved }
        for input in strings(f.input, f.n_input) {
            let value = Value(name: input)
            body.inputs.append(value)
            define(value)
        }
        let nodeProtos = messages(f.node, f.n_node)
        let nodes = nodeProtos.map(makeNode)
        for node in nodes { for output in node.outputs { define(output) } }
        for (node, proto) in zip(nodes, nodeProtos) {
            try link(node, proto, context: context)
            body.append(node)
        }
        for output in strings(f.output, f.n_output) {
            guard let value = lookup(output) else {
                throw MCCError.failure("\(label): \(context)output '\(output)' is not defined")
            }
            body.outputs.append(value)
        }
        try applyValueInfo(messages(f.value_info, f.n_value_info), graph: body, context: context)
        do { try body.sortTopologically() } catch let error as MCCError {
            throw MCCError(error.kind, "\(label): \(context)\(error.message)")
        }

        let function = Function(name: name, domain: string(f.domain), body: body)
        function.overload = string(f.overload)
        function.attributeNames = strings(f.attribute, f.n_attribute)
        function.attributeDefaults = try messages(f.attribute_proto, f.n_attribute_proto).map {
            try attribute($0, owner: "function '\(name)'")
        }
        function.opsetImports = opsets(f.opset_import, f.n_opset_import)
        function.docString = string(f.doc_string)
        function.metadataProps = keyValues(f.metadata_props, f.n_metadata_props)
        return function
    }
}
