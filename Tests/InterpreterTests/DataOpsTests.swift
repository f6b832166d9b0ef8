import Foundation
import IR
import Interpreter
import ONNXFormat
import TestSupport
import XCTest

/// Hand-computed cases for the data-movement, indexing, reduction and cast ops: the edge cases the ONNX node tests
/// cover thinly (slice clamping, reflect padding, bad indices, ties, empty axes, saturating casts, packed types).
final class DataOpsTests: XCTestCase {
    // MARK: Slice

    func testSliceNegativeStepsAndClamping() throws {
        let x = Tensor(int64s: Array(0..<10), shape: [10])
        let backward = try run("Slice", [x, ints([-1]), ints([Int64.min]), ints([0]), ints([-3])])
        XCTAssertEqual(backward[0].int64Values(), [9, 6, 3, 0])
        let clamped = try run("Slice", [x, ints([2]), ints([Int64.max])])
        XCTAssertEqual(clamped[0].int64Values(), Array(2..<10))
        let empty = try run("Slice", [x, ints([20]), ints([30])])
        XCTAssertEqual(empty[0].shape, [0])

        let m = Tensor(int64s: Array(0..<12), shape: [3, 4])
        let both = try run("Slice", [m, ints([0, 3]), ints([Int64.max, 0]), ints([0, 1]), ints([2, -1])])
        XCTAssertEqual(both[0].shape, [2, 3])
        XCTAssertEqual(both[0].int64Values(), [3, 2, 1, 11, 10, 9])
        // Extreme steps take one element without overflowing.
        XCTAssertEqual(try run("Slice", [x, ints([3]), ints([10]), ints([0]), ints([Int64.max])])[0].int64Values(), [3])
        XCTAssertEqual(try run("Slice", [x, ints([3]), ints([Int64.min]), ints([0]), ints([Int64.min])])[0].int64Values(), [3])
        // Opset 1 attributes, negative axis.
        let v1 = try run("Slice", [m], attributes: [.init("starts", .ints([1])), .init("ends", .ints([-1])),
                                                    .init("axes", .ints([-1]))], opset: 9)
        XCTAssertEqual(v1[0].int64Values(), [1, 2, 5, 6, 9, 10])
    }

    // MARK: Pad

    func testPadModes() throws {
        let x = Tensor(floats: [1, 2, 3], shape: [3])
        func pad(_ mode: String, _ pads: [Int64], value: Float? = nil) throws -> [Float] {
            let c: Tensor? = value.map { Tensor(scalar: $0) }
            return try run("Pad", [x, ints(pads), c], attributes: [.init("mode", .string(Array(mode.utf8)))])[0].floatValues()
        }
        XCTAssertEqual(try pad("reflect", [2, 2]), [3, 2, 1, 2, 3, 2, 1])
        XCTAssertEqual(try pad("edge", [2, 2]), [1, 1, 1, 2, 3, 3, 3])
        XCTAssertEqual(try pad("wrap", [2, 2]), [2, 3, 1, 2, 3, 1, 2])
        XCTAssertEqual(try pad("constant", [2, 2], value: 9), [9, 9, 1, 2, 3, 9, 9])
        XCTAssertEqual(try pad("constant", [-1, 1]), [2, 3, 0])
        // Opset 2 attributes.
        let old = try run("Pad", [x], attributes: [.init("pads", .ints([1, 0])), .init("value", .float(5))], opset: 2)
        XCTAssertEqual(old[0].floatValues(), [5, 1, 2, 3])
    }

    // MARK: Gather

    func testGatherNegativeIndicesAndRangeError() throws {
        let data = Tensor(floats: [1, 2, 3, 4, 5, 6], shape: [3, 2])
        let y = try run("Gather", [data, ints([-1, 0])])
        XCTAssertEqual(y[0].shape, [2, 2])
        XCTAssertEqual(y[0].floatValues(), [5, 6, 1, 2])
        let column = try run("Gather", [data, Tensor(int64s: [1], shape: [])], attributes: [.init("axis", .int(1))])
        XCTAssertEqual(column[0].shape, [3])
        XCTAssertEqual(column[0].floatValues(), [2, 4, 6])
        XCTAssertThrowsError(try run("Gather", [data, ints([0, 3])])) { error in
            XCTAssertTrue("\(error)".contains("index 3 out of range"), "\(error)")
        }
        XCTAssertThrowsError(try run("Gather", [data, ints([-4])]))
        XCTAssertThrowsError(try run("GatherElements", [data, Tensor(int64s: [0, 7], shape: [1, 2])]))
        XCTAssertThrowsError(try run("ScatterND", [data, Tensor(int64s: [5], shape: [1, 1]),
                                                   Tensor(floats: [0, 0], shape: [1, 2])]))
    }

    // MARK: TopK / ArgMax

    func testTopKTiesPreferLowerIndex() throws {
        let x = Tensor(floats: [3, 1, 3, 2, 3], shape: [5])
        let top = try run("TopK", [x, ints([2])], outputs: 2)
        XCTAssertEqual(top[0].floatValues(), [3, 3])
        XCTAssertEqual(top[1].int64Values(), [0, 2])
        let bottom = try run("TopK", [x, ints([2])], outputs: 2, attributes: [.init("largest", .int(0))])
        XCTAssertEqual(bottom[0].floatValues(), [1, 2])
        XCTAssertEqual(bottom[1].int64Values(), [1, 3])
        let first = try run("ArgMax", [x], attributes: [.init("keepdims", .int(0))])
        XCTAssertEqual(first[0].int64Values(), [0])
        let last = try run("ArgMax", [x], attributes: [.init("select_last_index", .int(1))])
        XCTAssertEqual(last[0].shape, [1])
        XCTAssertEqual(last[0].int64Values(), [4])
    }

    /// k much smaller than the axis takes the heap path; it must agree with a stable full sort.
    func testTopKHeapPathMatchesStableSort() throws {
        let values: [Float] = (0..<200).map { Float(($0 * 37) % 11) }
        let x = Tensor(floats: values, shape: [1, 200])
        for largest in [true, false] {
            let y = try run("TopK", [x, ints([5])], outputs: 2, attributes: [.init("largest", .int(largest ? 1 : 0))])
            let expected = values.indices.sorted { a, b in
                values[a] != values[b] ? (largest ? values[a] > values[b] : values[a] < values[b]) : a < b
            }.prefix(5)
            XCTAssertEqual(y[1].int64Values(), expected.map { Int64($0) })
            XCTAssertEqual(y[0].floatValues(), expected.map { values[$0] })
        }
    }

    // MARK: Reductions

    func testReductionAxesAndKeepDims() throws {
        let x = Tensor(floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        let all = try run("ReduceSum", [x, ints([])], opset: 13)
        XCTAssertEqual(all[0].shape, [1, 1])
        XCTAssertEqual(all[0].floatValues(), [21])
        let noop = try run("ReduceSum", [x, ints([])], attributes: [.init("noop_with_empty_axes", .int(1))], opset: 13)
        XCTAssertEqual(noop[0].shape, [2, 3])
        let rows = try run("ReduceMax", [x, ints([-1])], attributes: [.init("keepdims", .int(0))], opset: 18)
        XCTAssertEqual(rows[0].shape, [2])
        XCTAssertEqual(rows[0].floatValues(), [3, 6])
        let old = try run("ReduceMean", [x], attributes: [.init("axes", .ints([0]))], opset: 11)
        XCTAssertEqual(old[0].shape, [1, 3])
        XCTAssertEqual(old[0].floatValues(), [2.5, 3.5, 4.5])
        // Empty reduced set: identities.
        let empty = Tensor(floats: [], shape: [2, 0])
        XCTAssertEqual(try run("ReduceSum", [empty, ints([1])], opset: 13)[0].floatValues(), [0, 0])
        XCTAssertEqual(try run("ReduceProd", [empty, ints([1])], opset: 18)[0].floatValues(), [1, 1])
        XCTAssertEqual(try run("ReduceMax", [empty, ints([1])], opset: 18)[0].floatValues(), [-.infinity, -.infinity])
        XCTAssertEqual(try run("ReduceMin", [empty, ints([1])], opset: 18)[0].floatValues(), [.infinity, .infinity])
        // Integers stay exact.
        let big = Tensor(int64s: [1 << 60, 1, -(1 << 60)], shape: [3])
        XCTAssertEqual(try run("ReduceSum", [big, ints([0])], opset: 13)[0].int64Values(), [1])
    }

    // MARK: Einsum

    func testEinsumImplicitOutputAndEllipsis() throws {
        func einsum(_ equation: String, _ inputs: [Tensor]) throws -> Tensor {
            try run("Einsum", inputs, attributes: [.init("equation", .string(Array(equation.utf8)))], opset: 12)[0]
        }
        let a = Tensor(floats: [1, 2, 3, 4, 5, 6], shape: [2, 3]), b = Tensor(floats: [1, 0, 0, 1, 1, 1], shape: [3, 2])
        let product = try einsum("ij,jk", [a, b])  // implicit output "ik"
        XCTAssertEqual(product.shape, [2, 2])
        XCTAssertEqual(product.floatValues(), [4, 5, 10, 11])
        let swapped = try einsum("...ij->...ji", [reshapedTensor(a, [1, 2, 3])])
        XCTAssertEqual(swapped.shape, [1, 3, 2])
        XCTAssertEqual(swapped.floatValues(), [1, 4, 2, 5, 3, 6])
        let trace = try einsum("ii->", [Tensor(int64s: [1, 2, 3, 4], shape: [2, 2])])
        XCTAssertEqual(trace.int64Values(), [5])
        XCTAssertThrowsError(try einsum("ij,jk->ik", [a, a]))
    }

    private func reshapedTensor(_ t: Tensor, _ shape: [Int]) -> Tensor {
        var r = t
        r.shape = shape
        return r
    }

    // MARK: Strings

    func testStringTensorsMoveAndCast() throws {
        func strings(_ v: [String], _ shape: [Int]) -> Tensor {
            Tensor(elementType: .string, shape: shape, storage: TensorStorage(zeroed: 0), strings: v.map { Array($0.utf8) })
        }
        func text(_ t: Tensor) -> [String] { t.strings.map { String(decoding: $0, as: UTF8.self) } }
        let x = strings(["a", "b", "c", "d"], [2, 2])
        XCTAssertEqual(text(try run("Transpose", [x])[0]), ["a", "c", "b", "d"])
        XCTAssertEqual(text(try run("Gather", [x, ints([-1])], attributes: [.init("axis", .int(1))])[0]), ["b", "d"])
        XCTAssertEqual(text(try run("Concat", [x, strings(["e", "f"], [1, 2])], attributes: [.init("axis", .int(0))])[0]),
                       ["a", "b", "c", "d", "e", "f"])
        XCTAssertEqual(text(try run("Pad", [strings(["x"], [1]), ints([1, 0])])[0]), ["", "x"])
        let numbers = try run("Cast", [strings(["1.5", " -2", "inf"], [3])], attributes: [.init("to", .int(1))])[0]
        XCTAssertEqual(numbers.floatValues(), [1.5, -2, .infinity])
        let back = try run("Cast", [Tensor(floats: [0.1, 2, -0.0], shape: [3])], attributes: [.init("to", .int(8))])[0]
        XCTAssertEqual(text(back), ["0.1", "2.0", "-0.0"])
        XCTAssertThrowsError(try run("Cast", [strings(["abc"], [1])], attributes: [.init("to", .int(1))]))
    }

    // MARK: Cast

    func testCastFloatToInt8SaturatesAndTruncates() throws {
        let x = Tensor(floats: [1.9, -1.9, 300, -300, .nan, .infinity], shape: [6])
        let y = try cast(x, to: .int8)
        XCTAssertEqual(y.scalars(as: Int8.self), [1, -1, 127, -128, 0, 127])
    }

    func testCastToFloat16RoundsToNearest() throws {
        let y = try cast(Tensor(floats: [1.0 / 3.0, 65520, -0.0], shape: [3]), to: .float16)
        XCTAssertEqual(y.scalars(as: UInt16.self), [Float16(Float(1.0 / 3.0)).bitPattern, 0x7C00, 0x8000])
        let d = try cast(Tensor(.double, shape: [1], values: [0.1]), to: .float16)
        XCTAssertEqual(d.scalars(as: UInt16.self), [Float16(0.1).bitPattern])
    }

    /// Codes from onnx's own test data (test_cast_FLOAT_to_FLOAT8*, _INT4, _e8m0).
    func testCastToSmallFloatsAndPackedInts() throws {
        let x = Tensor(floats: [0.4789254665, 1e6, .nan, -1e-7, -.infinity], shape: [5])
        XCTAssertEqual(try cast(x, to: .float8e4m3fn).scalars(as: UInt8.self), [0x2F, 0x7E, 0x7F, 0x80, 0xFE])
        XCTAssertEqual(try cast(x, to: .float8e4m3fn, saturate: false).scalars(as: UInt8.self), [0x2F, 0x7F, 0x7F, 0x80, 0xFF])
        XCTAssertEqual(try cast(x, to: .float8e4m3fnuz).scalars(as: UInt8.self), [0x37, 0x7F, 0x80, 0x00, 0xFF])
        XCTAssertEqual(try cast(x, to: .float8e5m2).scalars(as: UInt8.self), [0x38, 0x7B, 0x7E, 0x80, 0xFB])
        XCTAssertEqual(try cast(x, to: .float8e5m2, saturate: false).scalars(as: UInt8.self), [0x38, 0x7C, 0x7E, 0x80, 0xFC])
        XCTAssertEqual(try cast(x, to: .float8e5m2fnuz, saturate: false).scalars(as: UInt8.self), [0x3C, 0x80, 0x80, 0x00, 0x80])
        let back = try cast(Tensor(.float8e4m3fn, shape: [3], values: [UInt8(0x2F), 0x7E, 0xFF]), to: .float)
        XCTAssertEqual(back.floatValues()[0...1], [0.46875, 448])
        XCTAssertTrue(back.floatValues()[2].isNaN)

        let int4 = try cast(Tensor(floats: [-9, -8, 7, 8, 1.9], shape: [5]), to: .int4)
        XCTAssertEqual(int4.scalars(as: UInt8.self), [0x87, 0x87, 0x01])
        let packed = [UInt8(0x87), 0x0F].withUnsafeBytes { TensorStorage(copying: $0) }
        let unpacked = try cast(Tensor(elementType: .int4, shape: [3], storage: packed), to: .int8)
        XCTAssertEqual(unpacked.scalars(as: Int8.self), [7, -8, -1])
        let fp4 = try cast(Tensor(floats: [0.25, 0.75, -3.5, 9], shape: [4]), to: .float4e2m1)
        XCTAssertEqual(fp4.scalars(as: UInt8.self), [0x20, 0x7E])
        let e8m0 = try cast(Tensor(floats: [0.124, 1.1, 2], shape: [3]), to: .float8e8m0)
        XCTAssertEqual(e8m0.scalars(as: UInt8.self), [0x7C, 0x80, 0x80])
    }

    /// The conformance comparison reads float8/float4/int4/int2 outputs as empty (no Float view), so check the
    /// bytes of every Cast/CastLike node test here.
    func testCastNodeTestsMatchBytes() throws {
        let root = TestPaths.nodeTests.appendingPathComponent("node")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else {
            throw XCTSkip("node tests not present")
        }
        var checked = 0
        for name in names.sorted() where name.hasPrefix("test_cast") && !name.contains("STRING") {
            let dir = root.appendingPathComponent(name)
            let model = try ONNXReader.load(path: dir.appendingPathComponent("model.onnx").path)
            let set = dir.appendingPathComponent("test_data_set_0")
            let inputs = try model.graph.inputs.indices.map {
                try TensorProtoIO.readTensor(path: set.appendingPathComponent("input_\($0).pb").path).tensor
            }
            let got = try Interpreter(model: model, threads: 1).run(inputs)[0]
            let expected = try TensorProtoIO.readTensor(path: set.appendingPathComponent("output_0.pb").path).tensor
            guard expected.elementType.bitWidth <= 8, expected.elementType != .int8, expected.elementType != .uint8 else { continue }
            XCTAssertEqual(Array(got.storage.bytes), Array(expected.storage.bytes), name)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 50)
    }

    // MARK: Loop

    /// onnx's Loop (scan outputs) and Scan node tests, with minimal same-shape Add/Mul registered since those belong to
    /// another op family (the conformance run claims these once Add is registered).
    func testLoopAndScanNodeTests() throws {
        var registry = OpRegistry.standard
        for (op, isAdd) in [("Add", true), ("Mul", false)] {
            registry.register(op) { ctx in
                let a = try ctx.input(0), b = try ctx.input(1)
                guard a.shape == b.shape else { throw ctx.unsupported("broadcast in the test \(op)") }
                if a.elementType == .int64 {
                    let v = zip(a.int64Values(), b.int64Values()).map { isAdd ? $0 &+ $1 : $0 &* $1 }
                    return [Tensor(int64s: v, shape: a.shape)]
                }
                return [Tensor(floats: zip(a.floatValues(), b.floatValues()).map { isAdd ? $0 + $1 : $0 * $1 }, shape: a.shape)]
            }
        }
        let root = TestPaths.nodeTests.appendingPathComponent("node")
        guard FileManager.default.fileExists(atPath: root.path) else { throw XCTSkip("node tests not present") }
        for name in ["test_loop11", "test_scan9_sum", "test_scan9_scalar", "test_scan9_multi_state", "test_scan_sum"] {
            let dir = root.appendingPathComponent(name)
            let model = try ONNXReader.load(path: dir.appendingPathComponent("model.onnx").path)
            let set = dir.appendingPathComponent("test_data_set_0")
            let inputs = try model.graph.inputs.indices.map {
                try TensorProtoIO.readTensor(path: set.appendingPathComponent("input_\($0).pb").path).tensor
            }
            let outputs = try Interpreter(model: model, registry: registry, threads: 1).run(inputs)
            for (k, got) in outputs.enumerated() {
                let expected = try TensorProtoIO.readTensor(path: set.appendingPathComponent("output_\(k).pb").path).tensor
                XCTAssertNil(compare(got, expected, atol: 1e-7, rtol: 1e-3), "\(name) output \(k)")
            }
        }
    }

    /// A Loop with no loop-carried values (only a trip count and a scan output).
    func testLoopWithoutCarriedValues() throws {
        let body = Graph(name: "body")
        let iteration = Value(name: "i", type: .tensor(.int64, Shape([Int]()))), condIn = Value(name: "c", type: .tensor(.bool, Shape([Int]())))
        body.inputs = [iteration, condIn]
        let condOut = Value(name: "c_out"), scanOut = Value(name: "i_out", type: .tensor(.int64, Shape([Int]())))
        body.append(Node("Identity", inputs: [condIn], outputs: [condOut]))
        body.append(Node("Identity", inputs: [iteration], outputs: [scanOut]))
        body.outputs = [condOut, scanOut]
        let graph = Graph(name: "main")
        let trips = Value(name: "M", type: .tensor(.int64, Shape([Int]())))
        graph.inputs = [trips]
        let out = Value(name: "scan")
        graph.append(Node("Loop", inputs: [trips, nil], outputs: [out], attributes: [.init("body", .graph(body))]))
        graph.outputs = [out]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 13)]
        let y = try Interpreter(model: model, threads: 1).run([Tensor(int64s: [3], shape: [])])
        XCTAssertEqual(y[0].shape, [3])
        XCTAssertEqual(y[0].int64Values(), [0, 1, 2])
    }

    /// Malformed inputs and attributes must throw, never trap.
    func testBadInputsThrow() throws {
        let x = Tensor(floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        let f = Tensor(floats: [0.5], shape: [1])
        let cases: [(String, [Tensor?], [Attribute], Int64)] = [
            ("Gather", [x, f], [], 13),
            ("Gather", [Tensor(scalar: 1), ints([0])], [], 13),
            ("Slice", [x, ints([0, 0]), ints([1])], [], 13),
            ("Slice", [x, ints([0]), ints([1]), ints([0]), ints([0])], [], 13),
            ("Split", [x, ints([1, 1])], [.init("axis", .int(1))], 13),
            ("Pad", [x, ints([0, -5, 0, 0])], [], 13),
            ("Pad", [Tensor(floats: [], shape: [0]), ints([1, 1])], [.init("mode", .string(Array("reflect".utf8)))], 13),
            ("Expand", [x, ints([3, 3])], [], 13),
            ("Tile", [x, ints([1, -1])], [], 13),
            ("Transpose", [x], [.init("perm", .ints([0, 0]))], 13),
            ("Concat", [x, Tensor(floats: [1], shape: [1, 1])], [.init("axis", .int(0))], 13),
            ("GatherND", [x, Tensor(int64s: [0, 0, 0], shape: [1, 3])], [], 13),
            ("GatherElements", [x, Tensor(int64s: [0, 0, 0, 0], shape: [1, 4])], [.init("axis", .int(0))], 13),
            ("ScatterElements", [x, Tensor(int64s: [0], shape: [1, 1]), Tensor(floats: [1, 2], shape: [1, 2])], [], 13),
            ("OneHot", [ints([1]), Tensor(floats: [-3], shape: []), Tensor(floats: [0, 1], shape: [2])], [], 13),
            ("TopK", [x, ints([4])], [], 13),
            ("TopK", [x, ints([-1])], [], 13),
            ("ArgMax", [Tensor(floats: [], shape: [0, 2])], [], 13),
            ("CumSum", [x, ints([2])], [], 14),
            ("Trilu", [Tensor(floats: [1], shape: [1])], [], 14),
            ("ReduceSum", [x, ints([2])], [], 13),
            ("Einsum", [x], [.init("equation", .string(Array("ijk->i".utf8)))], 12),
            ("Einsum", [x], [.init("equation", .string(Array("ij->q".utf8)))], 12),
            ("Compress", [x, Tensor(.bool, shape: [9], values: [UInt8](repeating: 1, count: 9))], [.init("axis", .int(0))], 13),
            ("ReverseSequence", [x, ints([3, 3, 3])], [], 10),
            ("Cast", [x], [.init("to", .int(99))], 21),
            ("Slice", [x, ints([0]), ints([1]), ints([1]), ints([0])], [], 13),
            ("Squeeze", [Tensor(scalar: 1), ints([0])], [], 13),
            ("Concat", [Tensor(scalar: 1), Tensor(scalar: 2)], [.init("axis", .int(0))], 13),
            ("GatherElements", [Tensor(scalar: 1), Tensor(int64s: [0], shape: [])], [], 13),
            ("Compress", [Tensor(scalar: 1), Tensor(.bool, shape: [1], values: [UInt8(1)])], [.init("axis", .int(0))], 13),
            ("Einsum", [x], [.init("equation", .string(Array("......->".utf8)))], 12),
            ("Pad", [x, ints([0, Int64.max, 0, 1])], [], 13),
            ("Tile", [x, ints([Int64.max, 2])], [], 13),
            ("Range", [Tensor(int64s: [Int64.min], shape: []), Tensor(int64s: [Int64.max], shape: []), Tensor(int64s: [1], shape: [])], [], 13),
            ("Range", [Tensor(scalar: 0), Tensor(scalar: 1e30), Tensor(scalar: 1)], [], 13),
            ("Reshape", [x, ints([Int64.max, Int64.max, -1])], [], 13),
            ("TensorScatter", [Tensor(floats: [Float](repeating: 0, count: 8), shape: [1, 4, 2]), Tensor(floats: [1, 2], shape: [1, 1, 2]),
                               ints([Int64.max])], [], 24),
        ]
        for (op, inputs, attributes, opset) in cases {
            XCTAssertThrowsError(try run(op, inputs, outputs: op == "TopK" || op == "Split" ? 2 : 1,
                                         attributes: attributes, opset: opset), op)
        }
    }

    // MARK: helpers

    private func ints(_ v: [Int64]) -> Tensor { Tensor(int64s: v, shape: [v.count]) }

    private func cast(_ x: Tensor, to type: ElementType, saturate: Bool = true) throws -> Tensor {
        try run("Cast", [x], attributes: [.init("to", .int(Int64(type.rawValue))), .init("saturate", .int(saturate ? 1 : 0))],
                opset: 25)[0]
    }

    /// Runs one `op` node; nil inputs are absent.
    private func run(_ op: String, _ inputs: [Tensor?], outputs: Int = 1, attributes: [Attribute] = [],
                     opset: Int64 = 21) throws -> [Tensor] {
        try runSingleNode(op, inputs, attributes: attributes, outputs: outputs, opset: opset)
    }
}
