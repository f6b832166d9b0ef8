import Foundation
import IR
import Interpreter
import Quant
import XCTest

/// FakeQuantize against onnxruntime's QuantizeLinear → DequantizeLinear (fixture written by
/// Fixtures/make_qdq_fixture.py) and against the interpreter's own Q/DQ kernels. Exact equality is expected: all
/// three divide by the scale and round half to even.
final class FakeQuantizeOracleTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var name: String
            var storage: String
            var scales: [Float]
            var zero_points: [Int64]
            var axis: Int?
            var shape: [Int]
            var x_bits: [UInt32]
            var y_bits: [UInt32]
        }
        var cases: [Case]
    }

    func loadFixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/qdq_ort_fixture.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func encoding(_ c: Fixture.Case) throws -> QuantEncoding {
        let storage = try XCTUnwrap(QuantStorage(rawValue: c.storage))
        return QuantEncoding(storage: storage, scales: c.scales, zeroPoints: c.zero_points, axis: c.axis, symmetric: false)
    }

    func testMatchesOnnxruntime() throws {
        let fixture = try loadFixture()
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 7)
        for c in fixture.cases {
            let x = c.x_bits.map { Float(bitPattern: $0) }
            let expected = c.y_bits.map { Float(bitPattern: $0) }
            let y = FakeQuantize.apply(try encoding(c), to: Tensor(floats: x, shape: c.shape)).floatValues()
            for i in x.indices where y[i] != expected[i] {
                XCTFail("\(c.name)[\(i)]: x=\(x[i]) → \(y[i]), onnxruntime \(expected[i])")
                break
            }
        }
    }

    func testMatchesInterpreterQuantizeDequantize() throws {
        for c in try loadFixture().cases {
            let e = try encoding(c)
            let x = Tensor(floats: c.x_bits.map { Float(bitPattern: $0) }, shape: c.shape)
            let g = Graph(name: "qdq")
            let input = Value(name: "x", type: x.valueType)
            g.inputs = [input]
            let shape = e.scales.count > 1 ? [e.scales.count] : []
            let scale = Value(name: "s", initializer: Tensor(floats: e.scales, shape: shape))
            let zero: Value
            switch e.storage {
            case .uint8: zero = Value(name: "z", initializer: Tensor(.uint8, shape: shape, values: e.zeroPoints.map { UInt8($0) }))
            case .int8: zero = Value(name: "z", initializer: Tensor(.int8, shape: shape, values: e.zeroPoints.map { Int8($0) }))
            case .uint16: zero = Value(name: "z", initializer: Tensor(.uint16, shape: shape, values: e.zeroPoints.map { UInt16($0) }))
            case .int16: zero = Value(name: "z", initializer: Tensor(.int16, shape: shape, values: e.zeroPoints.map { Int16($0) }))
            case .int32: zero = Value(name: "z", initializer: Tensor(.int32, shape: shape, values: e.zeroPoints.map { Int32($0) }))
            }
            g.initializers = [scale, zero]
            let q = Value(name: "q"), y = Value(name: "y")
            let axis = c.axis.map { [Attribute("axis", .int(Int64($0)))] } ?? []
            g.append(Node("QuantizeLinear", inputs: [input, scale, zero], outputs: [q], attributes: axis))
            g.append(Node("DequantizeLinear", inputs: [q, scale, zero], outputs: [y], attributes: axis))
            g.outputs = [y]
            let model = Model(graph: g)
            model.opsetImports = [OpsetImport(domain: "", version: 21)]
            let reference = try Interpreter(model: model, threads: 1).run([x])[0].floatValues()
            XCTAssertEqual(FakeQuantize.apply(e, to: x).floatValues(), reference, c.name)
        }
    }
}
