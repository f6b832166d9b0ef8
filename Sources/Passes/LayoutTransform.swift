import IR

/// Makes a graph input take the layout the user will feed, e.g. NHWC pixels for an NCHW model.
///
/// Reads `context.options.inputLayouts[input]`: a string of axis letters (case-insensitive) that must be a
/// permutation of the model's own layout for that input. The model's layout is guessed from the shape the way
/// ModelConverter does (modelconverter.md §1.4): for rank 4 after the batch axis, the first dim being the smallest
/// means NCHW, else the last being the smallest means NHWC, else NCHW; rank 3 likewise CHW / HWC; rank 5
/// NCDHW / NDHWC (unknown dims count as large). Each entry is consumed (removed from the options) when applied.
///
/// Rewrite: the input's shape is permuted to the requested layout (name and element type kept) and
/// `Transpose(perm: requested → model)` is inserted right after it; every former use reads the Transpose.
/// TransposeSinking then moves that Transpose down and cancels it against the model's own transposes where it can.
/// Requesting the model's own layout changes nothing. Main graph only.
public struct LayoutTransform: Pass {
    public var name: String { "layout-transform" }

    public init() {}

    public func run(on model: Model, context: PassContext) throws -> Bool {
        guard !context.options.inputLayouts.isEmpty else { return false }
        let rw = GraphRewriter(model: model, context: context)
        var changed = false
        for name in context.options.inputLayouts.keys.sorted() {
            guard let requested = context.options.inputLayouts.removeValue(forKey: name)?.uppercased() else { continue }
            guard let input = rw.graph.inputs.first(where: { $0.name == name }) else {
                throw MCCError.usage("--layout given for '\(name)', which is not a model input (inputs: \(rw.graph.inputs.map(\.name).joined(separator: ", ")))")
            }
            guard case .tensor(let elementType, let shape?) = input.type else {
                throw MCCError.usage("--layout \(name)=\(requested): the input's rank is unknown; fix its shape with --shape")
            }
            guard let own = Self.guessLayout(shape) else {
                throw MCCError.unsupported("--layout \(name)=\(requested): no image layout for an input of rank \(shape.rank)")
            }
            let letters = Array(requested), ownLetters = Array(own)
            guard letters.count == ownLetters.count, Set(letters) == Set(ownLetters), Set(letters).count == letters.count else {
                throw MCCError.usage("--layout \(name)=\(requested): the input \(shape) is \(own); give a permutation of those letters")
            }
            guard letters != ownLetters else { continue }
            guard !rw.isGraphOutput(input) else {
                throw MCCError.unsupported("--layout \(name)=\(requested): the input is also a model output")
            }
            // New axis i holds the model's axis toNew[i]; the inserted Transpose maps back: perm[j] = new position
            // of the model's axis j.
            let toNew = letters.compactMap { l in ownLetters.firstIndex(of: l) }
            let back = ownLetters.compactMap { l in letters.firstIndex(of: l) }
            let uses = input.uses
            let restored = rw.makeValue("\(name)_\(own.lowercased())", type: input.type)
            let transpose = rw.makeNode("Transpose", name: "\(name)_to_\(own.lowercased())", inputs: [input], outputs: [restored],
                                        attributes: [Attribute("perm", .ints(back.map(Int64.init)))])
            input.type = .tensor(elementType, Shape(toNew.map { shape.dims[$0] }))
            for use in uses { use.node.setInput(use.index, restored) }
            if let first = rw.graph.nodes.first { rw.insert(transpose, before: first) } else { rw.graph.append(transpose) }
            changed = true
        }
        return changed
    }

    /// The layout letters ModelConverter would assume for an input of this shape, or nil for ranks other than 3–5.
    public static func guessLayout(_ shape: Shape) -> String? {
        func size(_ d: Dim) -> Int { d.value ?? Int.max }
        let dims = shape.dims
        switch dims.count {
        case 3:
            return size(dims[2]) < size(dims[0]) && size(dims[2]) <= size(dims[1]) ? "HWC" : "CHW"
        case 4:
            let (c, h, w) = (size(dims[1]), size(dims[2]), size(dims[3]))
            return !(c <= h && c <= w) && w <= h ? "NHWC" : "NCHW"
        case 5:
            let inner = dims[1...].map(size)
            let smallest = inner.min() ?? 0
            return inner[0] > smallest && inner[3] == smallest ? "NDHWC" : "NCDHW"
        default:
            return nil
        }
    }
}
