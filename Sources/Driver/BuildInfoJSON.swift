/// The JSON values buildinfo.json holds.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    static func strings(_ items: [String]) -> JSONValue { .array(items.map(JSONValue.string)) }
    static func ints(_ items: [Int]) -> JSONValue { .array(items.map(JSONValue.int)) }

    /// Pretty-printed with sorted keys, byte for byte what `JSONSerialization` writes with
    /// `[.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]` (two-space indent, `"key" : value`, keys in
    /// Foundation's numeric case-insensitive order). Written by hand because Foundation's dynamic casts over
    /// `[String: Any]` cost a few percent of a whole compile.
    func prettyPrinted() -> String {
        var out = ""
        write(to: &out, indent: 0)
        return out
    }

    private func write(to out: inout String, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let v): out += v ? "true" : "false"
        case .int(let v): out += String(v)
        case .string(let v): Self.writeString(v, to: &out)
        case .array(let items):
            out += "[\n"
            for (i, item) in items.enumerated() {
                if i > 0 { out += ",\n" }
                out += String(repeating: " ", count: indent + 2)
                item.write(to: &out, indent: indent + 2)
            }
            out += "\n" + String(repeating: " ", count: indent) + "]"
        case .object(let members):
            out += "{\n"
            for (i, key) in members.keys.sorted(by: Self.foundationOrder).enumerated() {
                if i > 0 { out += ",\n" }
                out += String(repeating: " ", count: indent + 2)
                Self.writeString(key, to: &out)
                out += " : "
                members[key]?.write(to: &out, indent: indent + 2)
            }
            out += "\n" + String(repeating: " ", count: indent) + "}"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{c}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// `NSString.compare` with `[.numeric, .caseInsensitive, .forcedOrdering]`, which `.sortedKeys` uses: runs of
    /// digits compare by value, letters without case, and only then exactly.
    static func foundationOrder(_ a: String, _ b: String) -> Bool {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var i = 0, j = 0
        while i < x.count, j < y.count {
            if Self.isDigit(x[i]), Self.isDigit(y[j]) {
                var ei = i, ej = j
                while ei < x.count, Self.isDigit(x[ei]) { ei += 1 }
                while ej < y.count, Self.isDigit(y[ej]) { ej += 1 }
                // Compare the digit runs by value: strip leading zeros, then the longer run is larger.
                let p = x[i..<ei].drop { $0 == "0" }, q = y[j..<ej].drop { $0 == "0" }
                if p.count != q.count { return p.count < q.count }
                for (c, d) in zip(p, q) where c != d { return c.value < d.value }
                i = ei; j = ej
                continue
            }
            let c = Self.folded(x[i]), d = Self.folded(y[j])
            if c != d { return c < d }
            i += 1; j += 1
        }
        if x.count - i != y.count - j { return x.count - i < y.count - j }
        return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    private static func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }

    private static func folded(_ c: Unicode.Scalar) -> UInt32 {
        c.value >= 65 && c.value <= 90 ? c.value + 32 : c.value
    }
}
