extension CompileJob {
    /// The common compile command lines — `MODEL [-target onnx|rvc2] [-O0|-O1|-O2] [-o DIR] [--shape S]... [-v]` —
    /// read without ArgumentParser, whose reflection-driven setup (Mirror, protocol-conformance scans over the
    /// whole static binary) costs about as much as compiling a small model. Anything else (other flags, other
    /// targets, subcommands, a value that looks like a flag, a repeated option, help) returns nil and goes to
    /// ArgumentParser, so every error and usage message still comes from it. What this accepts means exactly
    /// what ArgumentParser makes of it (DriverTests compare the outputs of both paths).
    init?(fastParsing arguments: [String]) {
        var model: String?
        var target: Target?
        var level: Int?
        var output: String?
        var shapes: [String] = []
        var verbose = false
        var i = 0
        /// The value after an option: present, non-empty and not flag-like (ArgumentParser reads "-x" as a flag).
        func value() -> String? {
            guard i + 1 < arguments.count else { return nil }
            let v = arguments[i + 1]
            guard !v.isEmpty, !v.hasPrefix("-") else { return nil }
            i += 1
            return v
        }
        while i < arguments.count {
            let argument = arguments[i]
            switch argument {
            case "-target", "--target":
                guard target == nil, let v = value(), let t = Target(rawValue: v), t == .onnx || t == .rvc2 else { return nil }
                target = t
            case "-O0", "-O1", "-O2":
                guard level == nil else { return nil }
                level = Int(argument.dropFirst(2))
            case "-o", "--output-dir":
                guard output == nil, let v = value() else { return nil }
                output = v
            case "--shape":
                guard let v = value() else { return nil }
                shapes.append(v)
            case "-v", "--verbose":
                guard !verbose else { return nil }
                verbose = true
            default:
                // The model: one positional that is not a subcommand or help (ArgumentParser resolves those).
                guard model == nil, !argument.isEmpty, !argument.hasPrefix("-"),
                      !["compile", "inspect", "run", "help"].contains(argument) else { return nil }
                model = argument
            }
            i += 1
        }
        guard let model else { return nil }
        self.init(model: model)
        self.target = target ?? .onnx
        self.optimizationLevel = level ?? 0
        self.outputDirectory = output
        self.shapes = shapes
        self.verbose = verbose
    }
}
