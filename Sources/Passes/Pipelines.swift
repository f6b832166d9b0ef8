import IR

/// The -O levels as named pipelines. Static specialisation (shape inference + InlineStaticIf) runs before any of
/// them in the driver, so every pipeline may assume static shapes where the user fixed them.
public enum Pipelines {
    /// -O0: nothing beyond static specialisation, except what the user asked for. Input preprocessing (`--mean`,
    /// `--scale`, `--encoding`), input layout (`--layout`) and FP16 weights (targets that run FP16) are not
    /// optimizations: skipping them would silently produce a model that expects different input, so every level
    /// runs those passes (they do nothing without their options). At -O0 the preprocessing stays explicit ops.
    public static var o0: Pipeline {
        Pipeline(name: "O0", passes: [NormalizationFolding(foldIntoConvolutions: false), LayoutTransform(), FP16Casting()])
    }

    /// -O1 simplify, plus what the user asked for (see -O0), preprocessing folded into the first convolutions.
    public static var o1: Pipeline {
        Pipeline(name: "O1", passes: [NormalizationFolding(), LayoutTransform()] + simplify + [FP16Casting()], maxRounds: 4)
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

    /// Passes -O2 adds, in order. The user's preprocessing and input layout go first, while the input still feeds
    /// the model's own first layers. Activations fuse before the linear folds, which would otherwise take the
    /// trailing "/ 6" of a decomposed hard-swish into the next convolution and break the pattern. FP16 weight
    /// casting comes last so it sees the folded weights (weights are rounded once, as `mo` did).
    public static var optimize: [any Pass] {
        [
            NormalizationFolding(), LayoutTransform(), TransposeSinking(), ActivationFusion(), BatchNormFolding(),
            ConvBiasFolding(), FP16Casting(),
        ]
    }
}
