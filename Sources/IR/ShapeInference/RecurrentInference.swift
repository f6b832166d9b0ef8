/// LSTM, GRU and RNN: outputs Y, Y_h (and Y_c for LSTM) in either `layout`.
enum RecurrentInference {
    static let rules: [String: InferenceRule] = ["LSTM": recurrent, "GRU": recurrent, "RNN": recurrent]

    static func recurrent(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        let direction = c.string("direction", default: "forward")
        guard ["forward", "reverse", "bidirectional"].contains(direction) else {
            throw c.fail("unknown direction '\(direction)'")
        }
        let directions = Dim.known(direction == "bidirectional" ? 2 : 1)
        let gates = c.node.opType == "LSTM" ? 4 : c.node.opType == "GRU" ? 3 : 1
        var hidden = c.attr("hidden_size") != nil ? Dim.known(c.int("hidden_size", default: 0)) : .unknown
        if let r = c.shape(2) {
            guard r.rank == 3 else { throw c.fail("recurrence weights R must be 3-D, got \(r)") }
            if let h = hidden.value, let rh = r.dims[2].value, h != rh {
                throw c.fail("hidden_size \(h) disagrees with R \(r)")
            }
            if !hidden.isStatic { hidden = r.dims[2] }
            if let rows = r.dims[1].value, let h = hidden.value, rows != gates * h {
                throw c.fail("R \(r) should have \(gates * h) rows for hidden size \(h)")
            }
        }
        if let w = c.shape(1), w.rank == 3, let d = w.dims[0].value, let nd = directions.value, d != nd {
            throw c.fail("W \(w) has \(d) directions, direction '\(direction)' needs \(nd)")
        }
        let layout = c.int("layout", default: 0)
        var seq = Dim.unknown, batch = Dim.unknown
        if let x = c.shape(0) {
            guard x.rank == 3 else { throw c.fail("input X must be 3-D, got \(x)") }
            (seq, batch) = layout == 0 ? (x.dims[0], x.dims[1]) : (x.dims[1], x.dims[0])
            if let w = c.shape(1), w.rank == 3, let xi = x.dims[2].value, let wi = w.dims[2].value, xi != wi {
                throw c.fail("input size \(xi) of X \(x) disagrees with W \(w)")
            }
        }
        let y: [Dim] = layout == 0 ? [seq, directions, batch, hidden] : [batch, seq, directions, hidden]
        let state: [Dim] = layout == 0 ? [directions, batch, hidden] : [batch, directions, hidden]
        c.setOutput(0, element, y)
        c.setOutput(1, element, state)
        if c.node.opType == "LSTM" { c.setOutput(2, element, state) }
    }
}
