import IR
import Interpreter
import Passes
import XCTest

/// PassManager: the verifier between passes names the pass that broke the model, the type contract is checked,
/// dumps go to the requested passes, and pipelines repeat to a fixed point within their round limit, skipping
/// passes that provably find nothing (no change since their last run, or only a merge of equal constants that
/// the pass declares it cannot be affected by).
final class PassManagerTests: XCTestCase {
    /// Deletes the first node without rewiring its readers: a deliberately broken pass.
    private struct DropFirstNode: Pass {
        var name: String { "drop-first-node" }
        func run(on model: Model, context: PassContext) throws -> Bool {
            guard let node = model.graph.nodes.first else { return false }
            model.graph.remove([node])
            return true
        }
    }

    /// Replaces the first node's output with a fresh untyped value: breaks the type contract only.
    private struct ForgetType: Pass {
        var name: String { "forget-type" }
        func run(on model: Model, context: PassContext) throws -> Bool {
            guard let node = model.graph.nodes.first, let old = node.outputs.first else { return false }
            let fresh = Value(name: old.name + "_untyped")
            node.setOutputs([fresh])
            old.replaceAllUses(with: fresh)
            return true
        }
    }

    /// Counts its runs; changes the model (renames the graph) on its first `changes` runs only.
    private final class Counter: @unchecked Sendable {
        var runs = 0
    }

    private struct CountingPass: Pass {
        let name: String
        let counter: Counter
        var changes = 0
        var mergesOnlyConstants = false
        var foldsOnlyIntoLayers = false
        var unaffectedByMerges = false
        var unaffectedByLayerFolds = false
        var isUnaffectedByMergingEqualConstants: Bool { unaffectedByMerges }
        var isUnaffectedByFoldingIntoLayers: Bool { unaffectedByLayerFolds }
        func run(on model: Model, context: PassContext) throws -> Bool {
            counter.runs += 1
            guard counter.runs <= changes else { return false }
            model.graph.name += "."
            if mergesOnlyConstants { context.changeOnlyMergedEqualConstants = true }
            if foldsOnlyIntoLayers { context.changeOnlyFoldedIntoLayers = true }
            return true
        }
    }

    private func makeModel() throws -> Model {
        let b = GraphBuilder()
        let x = b.input("x", [3])
        b.output(b.node("Neg", [b.node("Relu", [x])], named: "y"))
        return try b.model()
    }

    func testVerifierNamesTheBreakingPass() throws {
        let model = try makeModel()
        var manager = PassManager(verifyEach: true)
        XCTAssertThrowsError(try manager.run(Pipeline(name: "t", passes: [DropFirstNode()]), on: model,
                                             context: PassContext(opset: 17))) { error in
            XCTAssertTrue("\(error)".contains("drop-first-node"), "\(error)")
        }
    }

    func testTypeContractIsChecked() throws {
        let model = try makeModel()
        var manager = PassManager(verifyEach: true)
        XCTAssertThrowsError(try manager.run(Pipeline(name: "t", passes: [ForgetType()]), on: model,
                                             context: PassContext(opset: 17))) { error in
            XCTAssertTrue("\(error)".contains("forget-type"), "\(error)")
            XCTAssertTrue("\(error)".contains("without a type"), "\(error)")
        }
    }

    func testPrintAfterAndRoundsToFixedPoint() throws {
        let b = GraphBuilder()
        let x = b.input("x", [3])
        let c = b.node("Add", [b.constant("a", floats: [1, 2, 3], shape: [3]), b.constant("b", floats: [1, 1, 1], shape: [3])])
        b.output(b.node("Mul", [x, b.node("Identity", [c])], named: "y"))
        let model = try b.model()
        var dumped: [String] = []
        var manager = PassManager(verifyEach: true, printAfter: ["constant-folding"]) { pass, model in
            dumped.append(pass + ":" + IRPrinter().print(model))
        }
        let input = Tensor(floats: [1, 2, 3], shape: [3])
        let before = try Interpreter(model: model).run([input])
        XCTAssertTrue(try manager.run(Pipelines.o1, on: model, context: PassContext(opset: 17)))
        assertClose(try Interpreter(model: model).run([input]), before, tolerance: 0)
        XCTAssertEqual(opTypes(model), ["Mul"])
        XCTAssertEqual(model.graph.initializers.count, 1, "the inputs of the fold are gone")
        // Round 1 changes, round 2 confirms the fixed point: constant-folding ran (and was dumped) twice.
        XCTAssertEqual(dumped.count, 2)
        XCTAssertTrue(dumped[0].contains("= Mul(%x, %"), dumped[0])
        XCTAssertEqual(manager.timings.filter { $0.pass == "constant-folding" }.count, 2)
    }

    func testPassIsNotRerunBeforeAnotherPassChangesTheModel() throws {
        let model = try makeModel()
        let changer = Counter(), other = Counter()
        let a = CountingPass(name: "a", counter: changer, changes: 1)
        let b = CountingPass(name: "b", counter: other)
        var manager = PassManager()
        // [a, b, a]: the second listing of `a` follows its own change with nothing changed in between.
        XCTAssertTrue(try manager.run(Pipeline(name: "t", passes: [a, b, a], maxRounds: 3), on: model,
                                      context: PassContext(opset: 17)))
        XCTAssertEqual(changer.runs, 1)
        XCTAssertEqual(other.runs, 1)
    }

    func testMergingEqualConstantsKeepsUnaffectedPassesIdle() throws {
        for unaffected in [false, true] {
            let model = try makeModel()
            let watcher = Counter(), merger = Counter()
            let watch = CountingPass(name: "watch", counter: watcher, unaffectedByMerges: unaffected)
            let merge = CountingPass(name: "merge", counter: merger, changes: 1, mergesOnlyConstants: true)
            var manager = PassManager()
            XCTAssertTrue(try manager.run(Pipeline(name: "t", passes: [watch, merge], maxRounds: 3), on: model,
                                          context: PassContext(opset: 17)))
            // An affected watcher runs again after the merge; an unaffected one is known to find nothing.
            XCTAssertEqual(watcher.runs, unaffected ? 1 : 2, "unaffected: \(unaffected)")
            XCTAssertEqual(merger.runs, 1)
        }
    }

    func testLayerFoldsKeepOnlyPassesUnaffectedByThemIdle() throws {
        for (byMerges, byFolds) in [(true, false), (false, true)] {
            let model = try makeModel()
            let watcher = Counter(), folder = Counter()
            let watch = CountingPass(name: "watch", counter: watcher, unaffectedByMerges: byMerges,
                                     unaffectedByLayerFolds: byFolds)
            let fold = CountingPass(name: "fold", counter: folder, changes: 1, foldsOnlyIntoLayers: true)
            var manager = PassManager()
            XCTAssertTrue(try manager.run(Pipeline(name: "t", passes: [watch, fold], maxRounds: 3), on: model,
                                          context: PassContext(opset: 17)))
            XCTAssertEqual(watcher.runs, byFolds ? 1 : 2)
        }
    }

    func testOtherChangesStillRerunUnaffectedPasses() throws {
        let model = try makeModel()
        let watcher = Counter(), changer = Counter()
        let watch = CountingPass(name: "watch", counter: watcher, unaffectedByMerges: true, unaffectedByLayerFolds: true)
        let change = CountingPass(name: "change", counter: changer, changes: 1)
        var manager = PassManager()
        XCTAssertTrue(try manager.run(Pipeline(name: "t", passes: [watch, change], maxRounds: 3), on: model,
                                      context: PassContext(opset: 17)))
        XCTAssertEqual(watcher.runs, 2)
    }
}
