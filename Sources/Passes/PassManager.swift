import Dispatch
import IR

/// A named sequence of passes (LLVM-style: -O levels are pipelines).
public struct Pipeline: Sendable {
    public var name: String
    public var passes: [any Pass]
    /// Run the sequence again while some pass has not run since the last change, at most this many rounds.
    public var maxRounds: Int

    public init(name: String, passes: [any Pass], maxRounds: Int = 1) {
        self.name = name
        self.passes = passes
        self.maxRounds = max(1, maxRounds)
    }
}

/// Runs pipelines: verifier between passes, per-pass timing, IR dumps after chosen passes.
///
/// Types: shape inference runs once, before the pipeline (driver), and is not re-run between passes. Whole-model
/// inference costs about as much as the whole -O1 pipeline, and each pass knows the types of the few values it
/// creates, so the `Pass` contract makes passes type what they create. With `verifyEach` the manager checks that
/// contract: a changing pass must not leave a main-graph node output untyped when the node's inputs are typed.
public struct PassManager {
    /// Verify the model after every pass that changed it (always on in tests; `--verify-each` on the CLI).
    public var verifyEach: Bool
    /// Pass names after which `dump` receives the model (`--print-after NAME`; "*" means every pass).
    public var printAfter: Set<String>
    /// Where dumps go (the driver prints them to stderr).
    public var dump: (String, Model) -> Void

    public struct Timing: Sendable, Equatable {
        public var pass: String
        public var milliseconds: Double
        public var changed: Bool
    }

    public private(set) var timings: [Timing] = []

    public init(verifyEach: Bool = false, printAfter: Set<String> = [], dump: @escaping (String, Model) -> Void = { _, _ in }) {
        self.verifyEach = verifyEach
        self.printAfter = printAfter
        self.dump = dump
    }

    /// Runs `pipeline` on `model`; returns whether any pass changed it. A verifier failure names the pass that broke
    /// the model (a compiler bug, reported as a failure rather than writing a broken model).
    ///
    /// The pass list repeats until every pass has run once since the last change (each pass reaches its own fixed
    /// point in one run, so the one that made the last change need not run again), at most `maxRounds` times
    /// over. A second round thus only reruns the passes placed before the last one that changed something.
    @discardableResult
    public mutating func run(_ pipeline: Pipeline, on model: Model, context: PassContext) throws -> Bool {
        let count = pipeline.passes.count
        var anyChange = false
        var runs = 0
        var lastChange = -1
        // A pass is a function of the model and the context, so one that found nothing to do finds nothing again
        // until some pass changes the model, and one that changed it finds nothing right after its own run (each
        // run reaches the pass's fixed point): such reruns (the second `simplify` of O2, the confirming rounds) are
        // skipped. Keyed by type and name: a pipeline that lists one pass type twice configures it alike (a
        // description via reflection would tell configurations apart but costs more than most passes). The key of
        // a pass is the position of its first alike pass, so the table is a plain [Int]: a dictionary with a new key
        // type costs ~0.35M instructions of runtime type instantiation and conformance lookup on first use, more
        // than the whole table is ever used for.
        var changes = 0
        let types = pipeline.passes.map { ObjectIdentifier(type(of: $0)) }
        let names = pipeline.passes.map(\.name)
        let keys = (0..<count).map { i in (0..<i).first { types[$0] == types[i] && names[$0] == names[i] } ?? i }
        var idleAtChange = [Int](repeating: -1, count: count)
        while runs < count * pipeline.maxRounds && !(runs >= count && runs - lastChange >= count) {
            let index = runs % count
            runs += 1
            if idleAtChange[keys[index]] == changes { continue }
            context.changeOnlyMergedEqualConstants = false
            context.changeOnlyFoldedIntoLayers = false
            if try run(pipeline.passes[index], on: model, context: context) {
                anyChange = true
                lastChange = runs - 1
                changes += 1
                let merged = context.changeOnlyMergedEqualConstants, folded = context.changeOnlyFoldedIntoLayers
                if merged || folded {
                    // Passes idle before this change and unaffected by its kind stay idle.
                    for key in 0..<count where keys[key] == key && idleAtChange[key] == changes - 1 {
                        let pass = pipeline.passes[key]
                        if (merged && pass.isUnaffectedByMergingEqualConstants) || (folded && pass.isUnaffectedByFoldingIntoLayers) {
                            idleAtChange[key] = changes
                        }
                    }
                }
            }
            // Idle until the next change either way: a pass that found nothing finds nothing again, and one that
            // changed the model left it at its own fixed point (the `Pass` contract), so rerunning it before any
            // other pass changes something (the listing in the next round, or its second listing in O2) is skipped.
            idleAtChange[keys[index]] = changes
        }
        return anyChange
    }

    private mutating func run(_ pass: any Pass, on model: Model, context: PassContext) throws -> Bool {
        let untypedBefore = verifyEach ? Set(Self.untypedOutputs(in: model.graph).map(ObjectIdentifier.init)) : []
        let start = DispatchTime.now().uptimeNanoseconds
        let changed = try pass.run(on: model, context: context)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        timings.append(Timing(pass: pass.name, milliseconds: ms, changed: changed))
        if changed && verifyEach {
            do { try Verifier.verify(model) } catch let error as MCCError {
                throw MCCError.failure("internal error: the model is invalid after pass '\(pass.name)': \(error.message)")
            }
            if let untyped = Self.untypedOutputs(in: model.graph).first(where: { !untypedBefore.contains(ObjectIdentifier($0)) }) {
                throw MCCError.failure("internal error: pass '\(pass.name)' left '\(untyped.name)' without a type although its inputs have types")
            }
        }
        if printAfter.contains(pass.name) || printAfter.contains("*") { dump(pass.name, model) }
        return changed
    }

    /// Main-graph node outputs without a type whose node's inputs all have types; the ones a pass newly leaves
    /// untyped breach the `Pass` contract (unknown custom ops are untyped from the start and stay so).
    static func untypedOutputs(in graph: Graph) -> [Value] {
        var result: [Value] = []
        for node in graph.nodes where node.inputs.allSatisfy({ $0.map { $0.isAbsent || $0.type != nil } ?? true }) {
            result += node.outputs.filter { !$0.isAbsent && $0.type == nil }
        }
        return result
    }
}
