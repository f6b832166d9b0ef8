import Emit
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import IR
import XCTest

/// A parsed `.xml` for assertions: layers with ports and attributes, and the edges.
struct ParsedIR {
    struct Port {
        var id: Int
        var precision: String
        var dims: [Int]
        var names: String?
    }

    struct Layer {
        var id: Int
        var name: String
        var type: String
        var version: String
        var data: [String: String]
        var inputs: [Port]
        var outputs: [Port]
        var rtInfo: [String]
    }

    var version: Int
    var layers: [Layer]
    var edges: [(fromLayer: Int, fromPort: Int, toLayer: Int, toPort: Int)]

    init(_ xml: Data) throws {
        let doc = try XMLDocument(data: xml, options: [])
        guard let net = doc.rootElement(), net.name == "net" else { throw MCCError.failure("no <net>") }
        version = Int(net.attribute(forName: "version")?.stringValue ?? "") ?? -1
        func ports(_ element: XMLElement?) -> [Port] {
            (element?.elements(forName: "port") ?? []).map { p in
                Port(id: Int(p.attribute(forName: "id")?.stringValue ?? "") ?? -1,
                     precision: p.attribute(forName: "precision")?.stringValue ?? "",
                     dims: p.elements(forName: "dim").compactMap { Int($0.stringValue ?? "") },
                     names: p.attribute(forName: "names")?.stringValue)
            }
        }
        layers = (net.elements(forName: "layers").first?.elements(forName: "layer") ?? []).map { l in
            var data: [String: String] = [:]
            for attribute in l.elements(forName: "data").first?.attributes ?? [] {
                data[attribute.name ?? ""] = attribute.stringValue ?? ""
            }
            return Layer(id: Int(l.attribute(forName: "id")?.stringValue ?? "") ?? -1,
                         name: l.attribute(forName: "name")?.stringValue ?? "",
                         type: l.attribute(forName: "type")?.stringValue ?? "",
                         version: l.attribute(forName: "version")?.stringValue ?? "",
                         data: data, inputs: ports(l.elements(forName: "input").first),
                         outputs: ports(l.elements(forName: "output").first),
                         rtInfo: (l.elements(forName: "rt_info").first?.elements(forName: "attribute") ?? [])
                             .compactMap { $0.attribute(forName: "name")?.stringValue })
        }
        edges = (net.elements(forName: "edges").first?.elements(forName: "edge") ?? []).map { e in
            func int(_ name: String) -> Int { Int(e.attribute(forName: name)?.stringValue ?? "") ?? -1 }
            return (int("from-layer"), int("from-port"), int("to-layer"), int("to-port"))
        }
    }

    func layers(ofType type: String) -> [Layer] { layers.filter { $0.type == type } }
    func layer(named name: String) -> Layer? { layers.first { $0.name == name } }

    /// The layer feeding input `port` of `layer`.
    func producer(of layer: Layer, port: Int) -> Layer? {
        guard let edge = edges.first(where: { $0.toLayer == layer.id && $0.toPort == port }) else { return nil }
        return layers.first { $0.id == edge.fromLayer }
    }

    /// Checks what every reader enforces (openvino-ir.md §1.2): ids unique, each input port fed exactly once by an
    /// existing output port, Const ranges inside the .bin with size = elements × element size.
    func assertWellFormed(weights: Data, file: StaticString = #filePath, line: UInt = #line) {
        let ids = Set(layers.map(\.id))
        XCTAssertEqual(ids.count, layers.count, "duplicate layer ids", file: file, line: line)
        for layer in layers {
            XCTAssertFalse(layer.version.isEmpty, "\(layer.name) has no version", file: file, line: line)
            for port in layer.inputs {
                let feeding = edges.filter { $0.toLayer == layer.id && $0.toPort == port.id }
                XCTAssertEqual(feeding.count, 1, "\(layer.name) input \(port.id) fed \(feeding.count) times", file: file, line: line)
                if let edge = feeding.first, let source = layers.first(where: { $0.id == edge.fromLayer }) {
                    let out = source.outputs.first { $0.id == edge.fromPort }
                    XCTAssertNotNil(out, "edge from missing port \(source.name):\(edge.fromPort)", file: file, line: line)
                    XCTAssertEqual(out?.dims, port.dims, "dims differ on edge \(source.name) → \(layer.name)", file: file, line: line)
                    XCTAssertEqual(out?.precision, port.precision, "precision differs \(source.name) → \(layer.name)", file: file, line: line)
                }
            }
            if layer.type == "Const" {
                let offset = Int(layer.data["offset"] ?? "") ?? -1, size = Int(layer.data["size"] ?? "") ?? -1
                let bytes = ["f32": 4, "f16": 2, "i64": 8, "i32": 4, "u8": 1, "i8": 1][layer.data["element_type"] ?? ""] ?? 0
                let count = layer.outputs.first?.dims.reduce(1, *) ?? 0
                XCTAssertEqual(size, count * bytes, "\(layer.name) size", file: file, line: line)
                XCTAssertTrue(offset >= 0 && offset + size <= weights.count, "\(layer.name) outside .bin", file: file, line: line)
            }
        }
    }
}

/// Builds a one-graph model from nodes over named values; types come from shape inference.
final class ModelBuilder {
    let graph = Graph(name: "test")
    private var values: [String: Value] = [:]
    let opset: Int64

    init(opset: Int64 = 13) { self.opset = opset }

    @discardableResult
    func input(_ name: String, _ dims: [Int], _ type: ElementType = .float) -> Value {
        let v = Value(name: name, type: .tensor(type, Shape(dims)))
        graph.inputs.append(v)
        values[name] = v
        return v
    }

    @discardableResult
    func initializer(_ name: String, _ tensor: Tensor) -> Value {
        let v = Value(name: name, initializer: tensor)
        graph.initializers.append(v)
        values[name] = v
        return v
    }

    func value(_ name: String) -> Value {
        if let v = values[name] { return v }
        let v = Value(name: name)
        values[name] = v
        return v
    }

    func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "", _ attributes: [Attribute] = []) {
        graph.append(Node(op, name: name, inputs: inputs.map { $0.isEmpty ? nil : value($0) },
                          outputs: outputs.map(value), attributes: attributes))
    }

    func model(outputs: [String]) throws -> Model {
        graph.outputs = outputs.map(value)
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: opset)]
        _ = try ShapeInference(opset: opset).run(on: model)
        return model
    }
}

func emitParsed(_ model: Model, _ options: OpenVINOEmitOptions = OpenVINOEmitOptions(),
                file: StaticString = #filePath, line: UInt = #line) throws -> (ParsedIR, OpenVINOIR) {
    let ir = try OpenVINOEmitter.emit(model, options: options)
    let parsed = try ParsedIR(ir.xml)
    parsed.assertWellFormed(weights: ir.weights, file: file, line: line)
    return (parsed, ir)
}

func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int((state >> 33) % 2001) - 1000) / 1000
    }
}
