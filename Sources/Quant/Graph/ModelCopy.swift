import IR

/// Deep copy of a model's structure. Tensors are shared (a `Tensor` holds a reference to its storage), so weights
/// are never duplicated; nodes, values and subgraphs are new objects, so rewriting the copy leaves the original
/// (the FP32 reference) intact.
public enum ModelCopy {
    public static func copy(_ model: Model) -> Model {
        copyWithValueMap(model).model
    }

    /// The copy and the translation from the original's values (by identity) to the copy's.
    public static func copyWithValueMap(_ model: Model) -> (model: Model, values: [ObjectIdentifier: Value]) {
        var map: [ObjectIdentifier: Value] = [:]
        let graph = copy(model.graph, map: &map)
        let result = Model(graph: graph)
        result.irVersion = model.irVersion
        result.opsetImports = model.opsetImports
        result.producerName = model.producerName
        result.producerVersion = model.producerVersion
        result.domain = model.domain
        result.modelVersion = model.modelVersion
        result.docString = model.docString
        result.metadataProps = model.metadataProps
        result.functions = model.functions
        return (result, map)
    }

    /// Copies `graph`; `map` translates values of enclosing graphs that subgraphs read.
    static func copy(_ graph: Graph, map: inout [ObjectIdentifier: Value]) -> Graph {
        let g = Graph(name: graph.name)
        g.docString = graph.docString
        g.metadataProps = graph.metadataProps
        func clone(_ v: Value) -> Value {
            if let existing = map[ObjectIdentifier(v)] { return existing }
            let c = Value(name: v.name, type: v.type, initializer: v.initializer)
            c.docString = v.docString
            c.metadataProps = v.metadataProps
            map[ObjectIdentifier(v)] = c
            return c
        }
        g.inputs = graph.inputs.map(clone)
        g.initializers = graph.initializers.map(clone)
        for node in graph.nodes {
            var attributes: [Attribute] = []
            for attribute in node.attributes {
                var a = attribute
                switch attribute.value {
                case .graph(let sub): a.value = .graph(copy(sub, map: &map))
                case .graphs(let subs): a.value = .graphs(subs.map { copy($0, map: &map) })
                default: break
                }
                attributes.append(a)
            }
            let inputs = node.inputs.map { $0.map(clone) }
            let outputs = node.outputs.map(clone)
            let n = Node(node.opType, domain: node.domain, name: node.name, inputs: inputs, outputs: outputs,
                         attributes: attributes)
            n.overload = node.overload
            n.docString = node.docString
            n.metadataProps = node.metadataProps
            g.append(n)
        }
        g.outputs = graph.outputs.map(clone)
        g.extraValueInfo = graph.extraValueInfo.map(clone)
        return g
    }
}
