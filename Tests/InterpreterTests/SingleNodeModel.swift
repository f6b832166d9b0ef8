import IR
import Interpreter

/// Runs a model of one `op` node whose graph inputs are `inputs` in order (nil = absent optional input) and
/// returns its outputs. Shared by the per-family op tests.
func runSingleNode(_ op: String, _ inputs: [Tensor?], attributes: [Attribute] = [], outputs: Int = 1,
                   opset: Int64) throws -> [Tensor] {
    let graph = Graph(name: "single_node")
    var values: [Value?] = []
    var feeds: [Tensor] = []
    for (i, tensor) in inputs.enumerated() {
        guard let tensor else { values.append(nil); continue }
        let value = Value(name: "in\(i)", type: tensor.valueType)
        graph.inputs.append(value)
        values.append(value)
        feeds.append(tensor)
    }
    let results = (0..<outputs).map { Value(name: "out\($0)") }
    graph.append(Node(op, inputs: values, outputs: results, attributes: attributes))
    graph.outputs = results
    let model = Model(graph: graph)
    model.opsetImports = [OpsetImport(domain: "", version: opset)]
    return try Interpreter(model: model, threads: 1).run(feeds)
}
