import IR
import XCTest

/// `--shape` handling, declared-type merging, the report and `requireStaticShapes`.
final class ShapeInferenceEntryTests: XCTestCase {
    func testFixedShapeSubstitutesSymbolsEverywhere() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [sym("N"), .known(3), sym("H"), sym("W")])
        let y = b.input("y", .float, [sym("N"), .known(4)])
        let r = b.op("Relu", [x])
        r.type = .tensor(.float, Shape([sym("N"), .known(3), sym("H"), sym("W")]))
        let report = try b.infer(fixed: ["x": [2, 3, 8, 6]])
        XCTAssertShape(r, [2, 3, 8, 6])
        XCTAssertShape(y, [2, 4])
        XCTAssertEqual(report.fixedSymbols, ["N": 2, "H": 8, "W": 6])
        XCTAssertEqual(report.dynamicValues, [])
    }

    func testUnknownShapeNameIsUsageErrorListingInputs() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 3])
        _ = b.op("Relu", [x])
        XCTAssertMCCError(.usage, ["'images'", "'x'"]) { try b.infer(fixed: ["images": [1, 3]]) }
    }

    func testRankMismatchAndConflictingDimAreUsageErrors() {
        let b = GraphBuilder()
        b.input("x", .float, [.unknown, .known(3), .unknown, .unknown])
        XCTAssertMCCError(.usage, ["'x'", "rank 4", "got 2"]) { try b.infer(fixed: ["x": [1, 3]]) }
        XCTAssertMCCError(.usage, ["'x'", "dim 1", "is 3", "got 4"]) { try b.infer(fixed: ["x": [1, 4, 5, 5]]) }
    }

    func testSameSymbolFixedTwiceDifferentlyIsUsageError() {
        let b = GraphBuilder()
        b.input("a", .float, [sym("N"), .known(2)])
        b.input("b", .float, [sym("N"), .known(2)])
        XCTAssertMCCError(.usage, ["'N'", "already fixed"]) { try b.infer(fixed: ["a": [1, 2], "b": [3, 2]]) }
    }

    func testNegativeAndQuestionMarkDimsAreUnknown() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [.known(-1), .known(3), sym("?"), sym("?")])
        let r = b.op("Relu", [x])
        try b.infer(fixed: ["x": [1, 3, 48, 192]])
        XCTAssertShape(r, [1, 3, 48, 192])
    }

    func testDeclaredSymbolicDimIsReplacedByInference() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 3])
        let r = b.op("Relu", [x])
        r.type = .tensor(.float, Shape([sym("batch"), .unknown]))
        try b.infer()
        XCTAssertShape(r, [2, 3])
    }

    func testDeclaredKnownDimKeptWhereInferenceKnowsLess() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [.unknown, .known(3)])
        let r = b.op("Relu", [x])
        r.type = .tensor(.float, Shape([5, 3]))
        try b.infer()
        XCTAssertShape(r, [5, 3])
    }

    func testDeclaredKnownDimContradictingInferenceNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 3])
        let r = b.op("Relu", [x], name: "act")
        r.type = .tensor(.float, Shape([2, 4]))
        XCTAssertMCCError(.failure, ["Relu node 'act'", "declared 4", "inferred as 3"]) { try b.infer() }
    }

    func testUnknownAndCustomOpsAreReportedNotErrors() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 3])
        let p = b.node("FancyOp", [x], domain: "Paddle")[0]
        let q = b.op("Frobnicate", [p])
        let r = b.op("Relu", [q])
        let report = try b.infer()
        XCTAssertNil(p.type)
        XCTAssertNil(r.type)
        XCTAssertEqual(report.unknownOps, ["Frobnicate", "Paddle::FancyOp"])
        XCTAssertEqual(report.nodesWithoutRule, 2)
    }

    func testRequireStaticShapesSuggestsShapeFlag() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [sym("p2o.DynamicDimension.0"), .known(3), sym("h"), .known(480)])
        _ = b.op("Relu", [x])
        let m = b.model()
        XCTAssertMCCError(.usage, ["input 'x' has dynamic dims [0,2]", "p2o.DynamicDimension.0, h", "--shape x=d0,3,d2,480"]) {
            try ShapeInference(fixedInputShapes: [:]).run(on: m)
            try ShapeInference.requireStaticShapes(m)
        }
    }

    func testRequireStaticShapesFlagsDataDependentValues() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [4])
        let nz = b.op("NonZero", [x], name: "nz")
        let m = b.model()
        try ShapeInference().run(on: m)
        XCTAssertShape(nz, [.known(1), .unknown])
        XCTAssertMCCError(.unsupported, ["NonZero node 'nz'", "data-dependent"]) { try ShapeInference.requireStaticShapes(m) }
    }

    func testRequireStaticShapesPassesOnStaticModel() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [sym("N"), .known(3)])
        _ = b.op("Relu", [x])
        let m = b.model()
        try ShapeInference(fixedInputShapes: ["x": [1, 3]]).run(on: m)
        try ShapeInference.requireStaticShapes(m)
    }

    func testAbsurdSizeIsError() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1])
        _ = b.op("ConstantOfShape", [b.ints([1 << 30, 1 << 30])], name: "huge")
        _ = x
        XCTAssertMCCError(.failure, ["ConstantOfShape node 'huge'", "2^40"]) { try b.infer() }
    }
}
