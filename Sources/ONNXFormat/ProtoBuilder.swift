import COnnx
import CProtobufC
import IR

/// Where large tensors go when a model is written with external data: one file, tensors appended in order.
final class ExternalDataPlan {
    /// File name relative to the model, as written into `external_data.location`.
    let location: String
    /// Tensors of at least this many bytes go to the file.
    let threshold: Int
    private(set) var entries: [(storage: TensorStorage, offset: Int, count: Int)] = []
    private(set) var size = 0

    init(location: String, threshold: Int) {
        self.location = location
        self.threshold = threshold
    }

    /// Reserves room for `count` bytes of `storage` and returns their offset. Large tensors start on a page
    /// boundary (as the ONNX spec recommends, so they can be mapped); small ones on 64 bytes.
    func place(_ storage: TensorStorage, count: Int) -> Int {
        let alignment = count >= 1 << 16 ? 4096 : 64
        let offset = (size + alignment - 1) / alignment * alignment
        entries.append((storage, offset, count))
        size = offset + count
        return offset
    }
}

/// Builds a protobuf-c ModelProto tree from the IR with malloc/strdup, so `onnx__model_proto__free_unpacked`
/// can free it. Tensor bytes are not copied: raw_data points straight at the tensor storage, and
/// `releaseBorrowedBytes()` must null those pointers before the tree is freed (protobuf-c would free them).
final class ProtoBuilder {
    private let irVersion: Int64
    private let external: ExternalDataPlan?
    private var borrowed: [UnsafeMutablePointer<Onnx__TensorProto>] = []
    /// Storage whose bytes the tree points at; held until the tree is packed and released.
    private var keepAlive: [TensorStorage] = []

    init(irVersion: Int64, external: ExternalDataPlan? = nil) {
        self.irVersion = irVersion
        self.external = external
    }

    func releaseBorrowedBytes() {
        for t in borrowed {
            t.pointee.raw_data = ProtobufCBinaryData(len: 0, data: nil)
            t.pointee.has_raw_data = 0
        }
        borrowed.removeAll()
        keepAlive.removeAll()
    }

    func model(_ model: Model) -> UnsafeMutablePointer<Onnx__ModelProto> {
        newMessage { (m: UnsafeMutablePointer<Onnx__ModelProto>) in
            onnx__model_proto__init(m)
            m.pointee.has_ir_version = 1
            m.pointee.ir_version = model.irVersion
            (m.pointee.n_opset_import, m.pointee.opset_import) = opsets(model.opsetImports)
            m.pointee.producer_name = cOptionalString(model.producerName)
            m.pointee.producer_version = cOptionalString(model.producerVersion)
            m.pointee.domain = cOptionalString(model.domain)
            if model.modelVersion != 0 {
                m.pointee.has_model_version = 1
                m.pointee.model_version = model.modelVersion
            }
            m.pointee.doc_string = cOptionalString(model.docString)
            m.pointee.graph = graph(model.graph)
            (m.pointee.n_metadata_props, m.pointee.metadata_props) = cKeyValues(model.metadataProps)
            let functions = model.functions.map(function)
            m.pointee.n_functions = functions.count
            m.pointee.functions = cMessageArray(functions)
        }
    }

    private func opsets(_ imports: [OpsetImport])
        -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Onnx__OperatorSetIdProto>?>?)
    {
        let items = imports.map { o in
            newMessage { (p: UnsafeMutablePointer<Onnx__OperatorSetIdProto>) in
                onnx__operator_set_id_proto__init(p)
                p.pointee.domain = cString(o.domain)
                p.pointee.has_version = 1
                p.pointee.version = o.version
            }
        }
        return (items.count, cMessageArray(items))
    }

    func graph(_ graph: Graph) -> UnsafeMutablePointer<Onnx__GraphProto> {
        newMessage { (g: UnsafeMutablePointer<Onnx__GraphProto>) in
            onnx__graph_proto__init(g)
            g.pointee.name = cOptionalString(graph.name)
            g.pointee.doc_string = cOptionalString(graph.docString)
            var inputs = graph.inputs.map(valueInfo)
            // IR 3 requires every initializer to be listed as a graph input as well.
            if irVersion <= 3 { inputs += graph.initializers.map(valueInfo) }
            g.pointee.n_input = inputs.count
            g.pointee.input = cMessageArray(inputs)
            let initializers = graph.initializers.compactMap { v in
                v.initializer.map { tensor($0, name: v.name, docString: v.docString, metadata: v.metadataProps,
                                           externalizable: true) }
            }
            g.pointee.n_initializer = initializers.count
            g.pointee.initializer = cMessageArray(initializers)
            let nodes = graph.nodes.map(node)
            g.pointee.n_node = nodes.count
            g.pointee.node = cMessageArray(nodes)
            let outputs = graph.outputs.map(valueInfo)
            g.pointee.n_output = outputs.count
            g.pointee.output = cMessageArray(outputs)
            let infos = intermediateValues(graph, excluding: graph.outputs).map(valueInfo)
            g.pointee.n_value_info = infos.count
            g.pointee.value_info = cMessageArray(infos)
            (g.pointee.n_metadata_props, g.pointee.metadata_props) = cKeyValues(graph.metadataProps)
        }
    }

    /// Typed node outputs (in node order) that are not graph outputs, plus kept-over value_info entries.
    private func intermediateValues(_ graph: Graph, excluding: [Value]) -> [Value] {
        let skip = Set(excluding.map(ObjectIdentifier.init))
        var result: [Value] = []
        for node in graph.nodes {
            for v in node.outputs where !v.isAbsent && v.type != nil && !skip.contains(ObjectIdentifier(v)) {
                result.append(v)
            }
        }
        return result + graph.extraValueInfo
    }

    private func valueInfo(_ value: Value) -> UnsafeMutablePointer<Onnx__ValueInfoProto> {
        newMessage { (p: UnsafeMutablePointer<Onnx__ValueInfoProto>) in
            onnx__value_info_proto__init(p)
            p.pointee.name = cString(value.name)
            p.pointee.type = value.type.map(typeProto)
            p.pointee.doc_string = cOptionalString(value.docString)
            (p.pointee.n_metadata_props, p.pointee.metadata_props) = cKeyValues(value.metadataProps)
        }
    }

    private func node(_ node: Node) -> UnsafeMutablePointer<Onnx__NodeProto> {
        newMessage { (p: UnsafeMutablePointer<Onnx__NodeProto>) in
            onnx__node_proto__init(p)
            let inputs = node.inputs.map { $0?.name ?? "" }
            p.pointee.n_input = inputs.count
            p.pointee.input = cStringArray(inputs)
            let outputs = node.outputs.map(\.name)
            p.pointee.n_output = outputs.count
            p.pointee.output = cStringArray(outputs)
            p.pointee.name = cOptionalString(node.name)
            p.pointee.op_type = cString(node.opType)
            p.pointee.domain = cOptionalString(node.domain)
            p.pointee.overload = cOptionalString(node.overload)
            let attributes = node.attributes.map(attribute)
            p.pointee.n_attribute = attributes.count
            p.pointee.attribute = cMessageArray(attributes)
            p.pointee.doc_string = cOptionalString(node.docString)
            (p.pointee.n_metadata_props, p.pointee.metadata_props) = cKeyValues(node.metadataProps)
        }
    }

    private func attribute(_ attribute: Attribute) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        newMessage { (p: UnsafeMutablePointer<Onnx__AttributeProto>) in
            onnx__attribute_proto__init(p)
            p.pointee.name = cString(attribute.name)
            p.pointee.doc_string = cOptionalString(attribute.docString)
            p.pointee.has_type = 1
            if let ref = attribute.refAttrName {
                // A reference carries its type but no value.
                p.pointee.ref_attr_name = cString(ref)
                p.pointee.type = attributeType(attribute.value)
                return
            }
            p.pointee.type = attributeType(attribute.value)
            switch attribute.value {
            case .float(let v): p.pointee.has_f = 1; p.pointee.f = v
            case .int(let v): p.pointee.has_i = 1; p.pointee.i = v
            case .string(let v): p.pointee.has_s = 1; p.pointee.s = cBytes(v)
            case .tensor(let t): p.pointee.t = tensor(t, name: "", externalizable: false)
            case .graph(let g): p.pointee.g = graph(g)
            case .sparseTensor(let s): p.pointee.sparse_tensor = sparseTensor(s)
            case .type(let t): p.pointee.tp = typeProto(t)
            case .floats(let v): p.pointee.n_floats = v.count; p.pointee.floats = cArray(v)
            case .ints(let v): p.pointee.n_ints = v.count; p.pointee.ints = cArray(v)
            case .strings(let v): p.pointee.n_strings = v.count; p.pointee.strings = cArray(v.map(cBytes))
            case .tensors(let v):
                p.pointee.n_tensors = v.count
                p.pointee.tensors = cMessageArray(v.map { tensor($0, name: "", externalizable: false) })
            case .graphs(let v): p.pointee.n_graphs = v.count; p.pointee.graphs = cMessageArray(v.map(graph))
            case .sparseTensors(let v):
                p.pointee.n_sparse_tensors = v.count
                p.pointee.sparse_tensors = cMessageArray(v.map(sparseTensor))
            case .types(let v): p.pointee.n_type_protos = v.count; p.pointee.type_protos = cMessageArray(v.map(typeProto))
            }
        }
    }

    private func attributeType(_ value: AttributeValue) -> Onnx__AttributeProto__AttributeType {
        switch value {
        case .float: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
        case .int: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
        case .string: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
        case .tensor: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
        case .graph: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH
        case .sparseTensor: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR
        case .type: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO
        case .floats: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
        case .ints: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
        case .strings: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS
        case .tensors: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS
        case .graphs: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS
        case .sparseTensors: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS
        case .types: ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS
        }
    }

    func tensor(_ tensor: Tensor, name: String, docString: String = "", metadata: [(String, String)] = [],
                externalizable: Bool) -> UnsafeMutablePointer<Onnx__TensorProto> {
        newMessage { (p: UnsafeMutablePointer<Onnx__TensorProto>) in
            onnx__tensor_proto__init(p)
            p.pointee.n_dims = tensor.shape.count
            p.pointee.dims = cArray(tensor.shape.map(Int64.init))
            p.pointee.has_data_type = 1
            p.pointee.data_type = tensor.elementType.rawValue
            p.pointee.name = cOptionalString(name)
            p.pointee.doc_string = cOptionalString(docString)
            (p.pointee.n_metadata_props, p.pointee.metadata_props) = cKeyValues(metadata)
            if tensor.elementType == .string {
                p.pointee.n_string_data = tensor.strings.count
                p.pointee.string_data = cArray(tensor.strings.map(cBytes))
                return
            }
            let count = min(tensor.byteCount, tensor.storage.byteCount)
            if externalizable, let external, count >= external.threshold {
                let offset = external.place(tensor.storage, count: count)
                p.pointee.has_data_location = 1
                p.pointee.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL
                (p.pointee.n_external_data, p.pointee.external_data) = cKeyValues([
                    ("location", external.location), ("offset", String(offset)), ("length", String(count)),
                ])
                return
            }
            p.pointee.has_raw_data = 1
            guard count > 0 else { return }
            let bytes = UnsafeMutableRawPointer(mutating: tensor.storage.baseAddress).assumingMemoryBound(to: UInt8.self)
            p.pointee.raw_data = ProtobufCBinaryData(len: count, data: bytes)
            borrowed.append(p)
            keepAlive.append(tensor.storage)
        }
    }

    private func sparseTensor(_ sparse: SparseTensor) -> UnsafeMutablePointer<Onnx__SparseTensorProto> {
        newMessage { (p: UnsafeMutablePointer<Onnx__SparseTensorProto>) in
            onnx__sparse_tensor_proto__init(p)
            p.pointee.values = tensor(sparse.values, name: "", externalizable: false)
            p.pointee.indices = tensor(sparse.indices, name: "", externalizable: false)
            p.pointee.n_dims = sparse.dims.count
            p.pointee.dims = cArray(sparse.dims.map(Int64.init))
        }
    }

    private func function(_ function: Function) -> UnsafeMutablePointer<Onnx__FunctionProto> {
        newMessage { (p: UnsafeMutablePointer<Onnx__FunctionProto>) in
            onnx__function_proto__init(p)
            let body = function.body
            p.pointee.name = cString(function.name)
            p.pointee.domain = cOptionalString(function.domain)
            p.pointee.overload = cOptionalString(function.overload)
            p.pointee.n_input = body.inputs.count
            p.pointee.input = cStringArray(body.inputs.map(\.name))
            p.pointee.n_output = body.outputs.count
            p.pointee.output = cStringArray(body.outputs.map(\.name))
            p.pointee.n_attribute = function.attributeNames.count
            p.pointee.attribute = cStringArray(function.attributeNames)
            let defaults = function.attributeDefaults.map(attribute)
            p.pointee.n_attribute_proto = defaults.count
            p.pointee.attribute_proto = cMessageArray(defaults)
            let nodes = body.nodes.map(node)
            p.pointee.n_node = nodes.count
            p.pointee.node = cMessageArray(nodes)
            p.pointee.doc_string = cOptionalString(function.docString)
            (p.pointee.n_opset_import, p.pointee.opset_import) = opsets(function.opsetImports)
            let typed = body.inputs.filter { $0.type != nil } + intermediateValues(body, excluding: [])
            let infos = typed.map(valueInfo)
            p.pointee.n_value_info = infos.count
            p.pointee.value_info = cMessageArray(infos)
            (p.pointee.n_metadata_props, p.pointee.metadata_props) = cKeyValues(function.metadataProps)
        }
    }
}
