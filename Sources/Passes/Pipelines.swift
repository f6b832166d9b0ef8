import IR

/// The -O levels as named pipelines. Static specialisation (shape inference + InlineStaticIf) runs before any of
/// them in the driver, so every pipeline may assume static shapes where the user fixed them.
public enum Pipelines {
    /// -O0: nothing beyond static specialisation.
    public static var o0: Pipeline { Pipeline(name: "O0", passes: []) }

    /// -O1 simplify.
    public static var o1: Pipeline {
        Pipeline(name: "O1", passes: simplify, maxRounds: 4)
    }

    /// -O2: simplify, then the folding / fusion / layout / precision passes, then simplify again to clean up.
    public static var o2: Pipeline {
        Pipeline(name: "O2", passes: simplify + optimize + simplify, maxRounds: 3)
    }

    public static func level(_ level: Int) -> Pipeline {
        switch level {
        case 0: return o0
        case 1: return o1
        default: return o2
        }
    }

    /// Names of every pass any pipeline runs, sorted (for `--print-after` validation and help).
    public static var passNames: [String] {
        Array(Set((simplify + optimize).map(\.name))).sorted()
    }

    /// Passes of -O1, in order: shape queries become constants, constants fold (with those shapes), pass-through
    /// nodes and shape/transpose chains collapse (which can leave new identities and duplicates for the next round),
    /// duplicates merge, and the cleanup passes drop whatever lost its last reader.
    public static var simplify: [any Pass] {
        [ShapeFolding(), ConstantFolding(), IdentityElimination(), ReshapeChains(), CommonSubexpressionElimination(),
         DeadCodeElimination(), UnusedInitializerRemoval()]
    }

    /// Passes -O2 adds, in order.
    public static var optimize: [any Pass] {
        []
    }
}
