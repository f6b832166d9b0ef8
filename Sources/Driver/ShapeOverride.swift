import IR

/// `--shape NAME=d0,d1,...` (or `--shape d0,d1,...` for a single-input model): fixes an input's dims.
struct ShapeOverride: Equatable {
    var inputName: String?
    var dims: [Int]

    /// Parses the option text; throws a usage error that quotes it.
    init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let dimsText: Substring
        if parts.count == 2 {
            guard !parts[0].isEmpty else { throw MCCError.usage("--shape '\(text)': missing input name before '='") }
            inputName = String(parts[0])
            dimsText = parts[1]
        } else {
            inputName = nil
            dimsText = parts[0]
        }
        let cleaned = dimsText.trimmingSpaces(brackets: true)
        var dims: [Int] = []
        for piece in cleaned.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = piece.trimmingSpaces(brackets: false)
            guard let d = Int(trimmed), d > 0, d <= 1 << 31 else {
                throw MCCError.usage("--shape '\(text)': '\(trimmed)' is not a positive dimension")
            }
            dims.append(d)
        }
        self.dims = dims
    }

    /// Resolves unnamed overrides against the model's inputs and rejects duplicates.
    static func resolve(_ overrides: [ShapeOverride], inputs: [String]) throws -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        for o in overrides {
            let name: String
            if let given = o.inputName {
                name = given
            } else {
                guard inputs.count == 1 else {
                    throw MCCError.usage("--shape without a name needs a single-input model; inputs are \(inputs.joined(separator: ", ")); use --shape NAME=d0,d1,...")
                }
                name = inputs[0]
            }
            guard result[name] == nil else { throw MCCError.usage("--shape given twice for input '\(name)'") }
            result[name] = o.dims
        }
        return result
    }
}

private extension Substring {
    /// Drops leading and trailing spaces (and square brackets when `brackets`). Plain comparisons: a Set literal
    /// instantiates generic metadata on first use, a visible cost at startup.
    func trimmingSpaces(brackets: Bool) -> Substring {
        func trimmed(_ c: Character) -> Bool { c == " " || (brackets && (c == "[" || c == "]")) }
        var s = self
        while let f = s.first, trimmed(f) { s = s.dropFirst() }
        while let l = s.last, trimmed(l) { s = s.dropLast() }
        return s
    }
}
