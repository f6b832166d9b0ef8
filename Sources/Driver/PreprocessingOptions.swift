import IR
import Passes

/// The preprocessing flags `--mean`, `--scale`, `--encoding` and `--layout`, each `NAME=VALUE` for one input or
/// `VALUE` for every image input, resolved against the model's inputs into `PassOptions`.
///
/// Semantics follow ModelConverter (../shared/docs/modelconverter.md §1.2–1.4): the compiled model takes raw `x`
/// in the `to` encoding and computes `(reverse_if(from != to)(x) - mean) / scale`, mean and scale given in the
/// source model's channel order; one value broadcasts to every channel. The channel axis is ModelConverter's
/// layout guess for rank-4 inputs: dim 1 when it is the smallest of dims 1–3 (NCHW), else dim 3 when smallest (NHWC).
struct PreprocessingOptions {
    enum Kind: String, CaseIterable {
        case mean, scale, encoding, layout
        var flag: String { "--\(rawValue)" }
    }

    /// One flag occurrence, checked for syntax (numbers, encodings, layouts) but not yet against the model.
    struct Entry {
        var kind: Kind
        var inputName: String?
        var numbers: [Float] = []
        var encoding: (from: String, to: String) = ("", "")
        var layout = ""
        var text: String

        init(_ kind: Kind, parsing text: String) throws {
            self.kind = kind
            self.text = text
            // Values never contain '=', names might: split at the last one.
            let valueText: Substring
            if let eq = text.lastIndex(of: "=") {
                let name = text[..<eq]
                guard !name.isEmpty else { throw MCCError.usage("\(kind.flag) '\(text)': missing input name before '='") }
                inputName = String(name)
                valueText = text[text.index(after: eq)...]
            } else {
                valueText = Substring(text)
            }
            switch kind {
            case .mean, .scale:
                for piece in valueText.split(separator: ",", omittingEmptySubsequences: false) {
                    let trimmed = piece.trimmingCharacters(in: " []")
                    guard let v = Float(trimmed), v.isFinite else {
                        throw MCCError.usage("\(kind.flag) '\(text)': '\(trimmed)' is not a number")
                    }
                    if kind == .scale && v == 0 { throw MCCError.usage("\(kind.flag) '\(text)': scale values must not be 0") }
                    numbers.append(v)
                }
            case .encoding:
                let parts = valueText.split(separator: ":", omittingEmptySubsequences: false).map { $0.uppercased() }
                let known = ["RGB", "BGR", "GRAY", "NONE"]
                guard (1...2).contains(parts.count), parts.allSatisfy(known.contains) else {
                    throw MCCError.usage("\(kind.flag) '\(text)': expected FROM:TO or one encoding, each of \(known.joined(separator: ", "))")
                }
                encoding = (parts[0], parts.last ?? parts[0])
                let reversible: Set<String> = ["RGB", "BGR"]
                guard encoding.from == encoding.to || (reversible.contains(encoding.from) && reversible.contains(encoding.to)) else {
                    throw MCCError.usage("\(kind.flag) '\(text)': cannot convert \(encoding.from) to \(encoding.to) (only RGB and BGR convert into each other)")
                }
            case .layout:
                layout = valueText.uppercased()
                guard ["NCHW", "NHWC"].contains(layout) else {
                    throw MCCError.usage("\(kind.flag) '\(text)': layout must be NCHW or NHWC")
                }
            }
        }
    }

    var entries: [Entry] = []

    init(mean: [String], scale: [String], encoding: [String], layout: [String]) throws {
        for (kind, texts) in [(Kind.mean, mean), (.scale, scale), (.encoding, encoding), (.layout, layout)] {
            for text in texts { entries.append(try Entry(kind, parsing: text)) }
        }
    }

    var isEmpty: Bool { entries.isEmpty }

    /// Resolves the flags against `graph`'s inputs (after shape inference, so shapes fixed by --shape count).
    /// Named entries override an unnamed one for the same flag; giving a flag twice for one input is an error.
    func resolve(against graph: Graph) throws -> PassOptions {
        var options = PassOptions()
        guard !entries.isEmpty else { return options }
        let initializerNames = Set(graph.initializers.map(\.name))
        let inputs = graph.inputs.filter { !initializerNames.contains($0.name) }
        let inputList = inputs.map { "'\($0.name)'" }.joined(separator: ", ")
        let imageInputs = inputs.filter { Self.channelAxis(of: $0) != nil }

        var perInput: [String: [Kind: Entry]] = [:]
        for kind in Kind.allCases {
            let ofKind = entries.filter { $0.kind == kind }
            let unnamed = ofKind.filter { $0.inputName == nil }
            if unnamed.count > 1 { throw MCCError.usage("\(kind.flag) given twice without an input name") }
            if let general = unnamed.first {
                guard !imageInputs.isEmpty else {
                    throw MCCError.usage("\(kind.flag) '\(general.text)' without a name applies to image inputs (rank 4 with 1 or 3 channels), but the model has none; inputs are \(inputList); use \(kind.flag) NAME=...")
                }
                for input in imageInputs { perInput[input.name, default: [:]][kind] = general }
            }
            var seen = Set<String>()
            for entry in ofKind {
                guard let name = entry.inputName else { continue }
                guard inputs.contains(where: { $0.name == name }) else {
                    throw MCCError.usage("\(kind.flag) names unknown input '\(name)'; the model's inputs are \(inputList.isEmpty ? "none" : inputList)")
                }
                guard seen.insert(name).inserted else { throw MCCError.usage("\(kind.flag) given twice for input '\(name)'") }
                perInput[name, default: [:]][kind] = entry
            }
        }

        for input in inputs {
            guard let flags = perInput[input.name] else { continue }
            let shapeText = input.shape.map(\.description) ?? "of unknown shape"
            guard let axis = Self.channelAxis(of: input), let sizes = input.shape?.staticSizes else {
                let flag = flags.keys.map(\.flag).sorted().joined(separator: ", ")
                throw MCCError.usage("\(flag) \(input.name): input '\(input.name)' \(shapeText) is not an image tensor with a static rank-4 shape (NCHW or NHWC, 1 or 3 channels); fix dynamic dims with --shape")
            }
            let channels = sizes[axis]
            var normalization = InputNormalization()
            normalization.channelAxis = axis
            for kind in [Kind.mean, .scale] {
                guard let entry = flags[kind] else { continue }
                guard entry.numbers.count == 1 || entry.numbers.count == channels else {
                    throw MCCError.usage("\(kind.flag) \(entry.text): \(entry.numbers.count) values for input '\(input.name)' with \(channels) channels (dim \(axis) of \(shapeText)); give 1 or \(channels)")
                }
                let values = entry.numbers.count == 1 ? Array(repeating: entry.numbers[0], count: channels) : entry.numbers
                if kind == .mean { normalization.mean = values } else { normalization.scale = values }
            }
            if let entry = flags[.encoding] {
                let (from, to) = entry.encoding
                let needed = from == "GRAY" ? 1 : from == "NONE" ? channels : 3
                guard channels == needed else {
                    throw MCCError.usage("--encoding \(entry.text): \(from) needs \(needed) channels, input '\(input.name)' has \(channels) (dim \(axis) of \(shapeText))")
                }
                normalization.encodingFrom = from
                normalization.encodingTo = to
            }
            if flags[.mean] != nil || flags[.scale] != nil || flags[.encoding] != nil {
                options.normalization[input.name] = normalization
            }
            if let entry = flags[.layout] { options.inputLayouts[input.name] = entry.layout }
        }
        return options
    }

    /// ModelConverter's channel guess for a static rank-4 input: 1 (NCHW) or 3 (NHWC) when that dim is the
    /// smallest of the non-batch dims and holds 1 or 3 channels; nil for anything else.
    static func channelAxis(of input: Value) -> Int? {
        guard let type = input.type, type.isTensor, let sizes = type.shape?.staticSizes, sizes.count == 4 else { return nil }
        let axis: Int
        if sizes[1] <= sizes[2] && sizes[1] <= sizes[3] {
            axis = 1
        } else if sizes[3] <= sizes[1] && sizes[3] <= sizes[2] {
            axis = 3
        } else {
            return nil
        }
        return [1, 3].contains(sizes[axis]) ? axis : nil
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}
