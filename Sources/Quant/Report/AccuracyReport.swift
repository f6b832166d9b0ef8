import Foundation

/// Device-free accuracy of a quantized model: its simulation in the interpreter against the float model on
/// held-back calibration samples, per output and per quantization point (layer), with the worst layers named.
public struct AccuracyReport: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public var name: String
        /// Producing op type (activation points) or "output".
        public var op: String
        public var bits: Int
        public var sqnrDB: Double
        public var cosine: Double
        public var maxAbsError: Double

        enum CodingKeys: String, CodingKey {
            case name, op, bits, cosine
            case sqnrDB = "sqnr_db"
            case maxAbsError = "max_abs_error"
        }
    }

    public var model: String
    public var samples: [String]
    /// True when the samples were also used for calibration (too few to hold any back).
    public var samplesInCalibration: Bool
    public var outputs: [Entry]
    public var layers: [Entry]
    /// Layers with the largest SQNR drop relative to their inputs' worst SQNR (where error is introduced).
    public var worstLayers: [String]
    public var activationBits: [String: Int]
    public var settings: [String: String]

    enum CodingKeys: String, CodingKey {
        case model, samples, outputs, layers, settings
        case samplesInCalibration = "samples_in_calibration"
        case worstLayers = "worst_layers"
        case activationBits = "activation_bits_histogram"
    }

    public var worstOutputSQNR: Double { outputs.map(\.sqnrDB).min() ?? .infinity }

    /// Deterministic JSON (sorted keys; non-finite numbers as strings).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    /// A plain-text table: outputs first, then the worst layers, then every layer in graph order.
    public func table(maxLayers: Int = .max) -> String {
        var lines: [String] = []
        let held = samplesInCalibration ? "calibration samples (none held back)" : "held-back samples"
        lines.append("accuracy of the simulated quantized model vs float32 on \(samples.count) \(held)")
        lines.append("")
        lines.append(row(["output", "SQNR dB", "cosine", "max|err|"], widths: [44, 9, 10, 11]))
        for o in outputs {
            lines.append(row([o.name, fixed(o.sqnrDB, 2), fixed(o.cosine, 6), scientific(o.maxAbsError)], widths: [44, 9, 10, 11]))
        }
        lines.append("")
        if !worstLayers.isEmpty {
            lines.append("worst layers (largest SQNR drop): " + worstLayers.joined(separator: ", "))
            lines.append("")
        }
        lines.append(row(["layer", "op", "bits", "SQNR dB", "cosine"], widths: [44, 18, 5, 9, 10]))
        for l in layers.prefix(maxLayers) {
            lines.append(row([l.name, l.op, String(l.bits), fixed(l.sqnrDB, 2), fixed(l.cosine, 6)], widths: [44, 18, 5, 9, 10]))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A self-contained HTML page: the tables plus a bar chart of per-layer SQNR (16-bit layers highlighted).
    public func html() -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
        }
        let finite = layers.map { $0.sqnrDB.isFinite ? $0.sqnrDB : 100 }
        let top = max(10, (finite.max() ?? 10).rounded(.up))
        let barWidth = 6, height = 200
        var bars = ""
        for (i, l) in layers.enumerated() {
            let v = max(0, min(top, finite[i]))
            let h = Int(Double(height) * v / top)
            let color = l.bits > 8 ? "#d08c2b" : (worstLayers.contains(l.name) ? "#c0392b" : "#2e86c1")
            bars += "<rect x=\"\(i * barWidth)\" y=\"\(height - h)\" width=\"\(barWidth - 1)\" height=\"\(h)\" fill=\"\(color)\"><title>\(esc(l.name)) (\(l.op), \(l.bits)-bit): \(fixed(l.sqnrDB, 2)) dB</title></rect>"
        }
        let svg = "<svg width=\"\(max(1, layers.count) * barWidth)\" height=\"\(height)\" xmlns=\"http://www.w3.org/2000/svg\">\(bars)</svg>"
        var rows = ""
        for o in outputs { rows += "<tr><td>\(esc(o.name))</td><td>\(fixed(o.sqnrDB, 2))</td><td>\(fixed(o.cosine, 6))</td></tr>" }
        var layerRows = ""
        for l in layers {
            let mark = worstLayers.contains(l.name) ? " class=\"worst\"" : ""
            layerRows += "<tr\(mark)><td>\(esc(l.name))</td><td>\(esc(l.op))</td><td>\(l.bits)</td><td>\(fixed(l.sqnrDB, 2))</td><td>\(fixed(l.cosine, 6))</td></tr>"
        }
        return """
        <!doctype html><html><head><meta charset="utf-8"><title>mcc quantization report: \(esc(model))</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}tr.worst{background:#fbe3e0}</style></head><body>
        <h1>\(esc(model))</h1><p>Simulated quantized model vs float32 on \(samples.count) \(samplesInCalibration ? "calibration" : "held-back") samples.</p>
        <h2>Outputs</h2><table><tr><th>output</th><th>SQNR dB</th><th>cosine</th></tr>\(rows)</table>
        <h2>Per-layer SQNR</h2><p>Blue 8-bit, orange 16-bit, red the worst layers. Hover for names.</p>\(svg)
        <h2>Layers</h2><table><tr><th>layer</th><th>op</th><th>bits</th><th>SQNR dB</th><th>cosine</th></tr>\(layerRows)</table>
        </body></html>

        """
    }
}

func fixed(_ v: Double, _ digits: Int) -> String {
    guard v.isFinite else { return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan") }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (v * scale).rounded() / scale
    var s = String(r)
    if s.contains("e") { return s }
    if !s.contains(".") { s += "." }
    let have = s.count - 1 - (s.firstIndex(of: ".").map { s.distance(from: s.startIndex, to: $0) } ?? 0)
    if have < digits { s += String(repeating: "0", count: digits - have) }
    return s
}

func scientific(_ v: Double) -> String {
    guard v.isFinite, v != 0 else { return fixed(v, 1) }
    var e = 0
    var m = v
    while abs(m) >= 10 { m /= 10; e += 1 }
    while abs(m) < 1 { m *= 10; e -= 1 }
    return fixed(m, 2) + "e" + (e < 0 ? "-" : "+") + String(abs(e))
}

func row(_ cells: [String], widths: [Int]) -> String {
    zip(cells, widths).enumerated().map { i, cw in
        let (c, w) = cw
        let text = c.count > w ? String(c.prefix(w - 1)) + "…" : c
        let pad = String(repeating: " ", count: max(0, w - text.count))
        return i == 0 ? text + pad : pad + text
    }.joined(separator: " ")
}
