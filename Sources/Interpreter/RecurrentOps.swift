import IR
import Kernels

/// Recurrent layers on float32: LSTM (gates i, o, f, c; on the `lstm` kernel), GRU (gates z, r, h;
/// linear_before_reset) and RNN.
///
/// Common semantics: direction forward/reverse/bidirectional; layout 0 (X [seq, batch, input], Y [seq, D, batch, H],
/// Y_h/Y_c [D, batch, H]) or 1 (batch-major: X [batch, seq, input], Y [batch, seq, D, H], Y_h [batch, D, H]);
/// sequence_lens (Y is zero past an entry's length, Y_h holds its last valid step; reverse runs from length-1 down);
/// optional initial states; `clip` bounds gate pre-activations; `activations` with activation_alpha/beta consumed in
/// order by the functions that take them.
func registerRecurrentOps(_ r: inout OpRegistry) {
    r.registerPromoting("LSTM") { ctx in try runRecurrent(ctx, .lstm) }
    r.registerPromoting("GRU") { ctx in try runRecurrent(ctx, .gru) }
    r.registerPromoting("RNN") { ctx in try runRecurrent(ctx, .rnn) }
}

private enum Cell {
    case lstm, gru, rnn

    var gates: Int {
        switch self {
        case .lstm: 4
        case .gru: 3
        case .rnn: 1
        }
    }
    /// Activation functions per direction and their defaults.
    var defaultActivations: [String] {
        switch self {
        case .lstm: ["Sigmoid", "Tanh", "Tanh"]
        case .gru: ["Sigmoid", "Tanh"]
        case .rnn: ["Tanh"]
        }
    }
}

/// Maps the `activations`/`activation_alpha`/`activation_beta` attributes to kernel ops.
private func activations(_ ctx: OpContext, _ cell: Cell, directions: Int) throws -> [UnaryOp] {
    let names = ctx.node.attribute("activations")?.strings
        ?? Array([[String]](repeating: cell.defaultActivations, count: directions).joined())
    guard names.count == cell.defaultActivations.count * directions else {
        throw ctx.failure("activations lists \(names.count) functions, expected \(cell.defaultActivations.count * directions)")
    }
    var alphas = (ctx.floats("activation_alpha") ?? [])[...], betas = (ctx.floats("activation_beta") ?? [])[...]
    func next(_ list: inout ArraySlice<Float>, _ fallback: Float) -> Float { list.popFirst() ?? fallback }
    return try names.map { name in
        switch name.lowercased() {
        case "sigmoid": return .sigmoid
        case "tanh": return .tanh
        case "relu": return .relu
        case "softsign": return .softsign
        case "softplus": return .softplus
        case "leakyrelu": return .leakyRelu(alpha: next(&alphas, 0.01))
        case "thresholdedrelu": return .thresholdedRelu(alpha: next(&alphas, 1))
        case "elu": return .elu(alpha: next(&alphas, 1))
        case "hardsigmoid":
            let alpha = next(&alphas, 0.2)
            return .hardSigmoid(alpha: alpha, beta: next(&betas, 0.5))
        default: throw ctx.unsupported("activation '\(name)'")
        }
    }
}

/// A float input that may be absent; present ones must have `count` elements.
private func optionalParameter(_ ctx: OpContext, _ index: Int, _ role: String, count: Int) throws -> [Float]? {
    guard let t = ctx.optionalInput(index) else { return nil }
    guard t.elementType == .float else { throw ctx.unsupported("\(role) type \(t.elementType)") }
    guard t.elementCount == count else { throw ctx.failure("\(role) \(t.shape) must have \(count) elements") }
    return t.floatValues()
}

/// Calls `body` with a pointer to the array's elements, or nil when it is absent.
private func withOptionalArray<T, R>(_ array: [T]?, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Swaps the first two of three logical axes [a, b, rest] → [b, a, rest].
private func swapLeading(_ v: [Float], _ a: Int, _ b: Int, _ rest: Int) -> [Float] {
    var out = [Float](repeating: 0, count: v.count)
    for i in 0..<a { for j in 0..<b { for k in 0..<rest { out[(j * a + i) * rest + k] = v[(i * b + j) * rest + k] } } }
    return out
}

private func runRecurrent(_ ctx: OpContext, _ cell: Cell) throws -> [Tensor] {
    let x = try ctx.floatInput(0, "X"), w = try ctx.floatInput(1, "W"), r = try ctx.floatInput(2, "R")
    guard x.rank == 3, w.rank == 3, r.rank == 3 else { throw ctx.failure("X, W and R must be 3-D") }
    let layout = ctx.opset >= 14 ? ctx.int("layout", default: 0) : 0
    guard layout == 0 || layout == 1 else { throw ctx.failure("layout \(layout) must be 0 or 1") }
    let (seq, batch) = layout == 0 ? (x.shape[0], x.shape[1]) : (x.shape[1], x.shape[0])
    let input = x.shape[2]
    let directionName = ctx.string("direction", default: "forward")
    let direction: RNNDirection
    switch directionName {
    case "forward": direction = .forward
    case "reverse": direction = .reverse
    case "bidirectional": direction = .bidirectional
    default: throw ctx.failure("unknown direction '\(directionName)'")
    }
    let dirs = direction.count
    let g = cell.gates
    let hidden = ctx.int("hidden_size", default: r.shape[2])
    guard hidden > 0, w.shape == [dirs, g * hidden, input], r.shape == [dirs, g * hidden, hidden] else {
        throw ctx.failure("W \(w.shape) / R \(r.shape) do not match \(dirs) directions, hidden \(hidden), input \(input)")
    }
    let bias = try optionalParameter(ctx, 3, "B", count: dirs * 2 * g * hidden)
    var lengths: [Int32]? = nil
    if let t = ctx.optionalInput(4) {
        guard t.elementType.isInteger, t.elementCount == batch else { throw ctx.failure("sequence_lens must be int [\(batch)]") }
        lengths = t.int64Values().map { Int32(clamping: max(0, min(Int64(seq), $0))) }
    }
    let stateCount = dirs * batch * hidden
    func state(_ index: Int, _ role: String) throws -> [Float]? {
        guard let v = try optionalParameter(ctx, index, role, count: stateCount) else { return nil }
        return layout == 0 ? v : swapLeading(v, batch, dirs, hidden)
    }
    let initialH = try state(5, "initial_h")
    let initialC = cell == .lstm ? try state(6, "initial_c") : nil
    let peepholes = cell == .lstm ? try optionalParameter(ctx, 7, "P", count: dirs * 3 * hidden) : nil
    let clip: Float? = ctx.node.attribute("clip") != nil ? ctx.float("clip", default: 0) : nil
    let acts = try activations(ctx, cell, directions: dirs)
    // Layout 0 reads X in place; layout 1 is transposed to sequence-major once.
    let xs = layout == 0 ? x : Tensor(floats: swapLeading(x.floatValues(), batch, seq, input), shape: [seq, batch, input])
    var y = [Float](repeating: 0, count: seq * dirs * batch * hidden)
    var yH = [Float](repeating: 0, count: stateCount), yC = yH
    switch cell {
    case .lstm:
        try ctx.requireBLAS()
        var triples: [(f: UnaryOp, g: UnaryOp, h: UnaryOp)] = []
        for d in 0..<dirs { triples.append((f: acts[3 * d], g: acts[3 * d + 1], h: acts[3 * d + 2])) }
        let p = LSTMParams(sequenceLength: seq, batch: batch, inputSize: input, hiddenSize: hidden, direction: direction,
                           activations: triples, clip: clip, inputForget: ctx.int("input_forget", default: 0) != 0)
        // X, W and R are read in place: copying the weights on every call cost more than the cell math on small
        // models (silero_vad).
        xs.withFloats { xp in
            w.withFloats { wp in
                r.withFloats { rp in
                    withOptionalArray(bias) { bp in
                        withOptionalArray(lengths) { lp in
                            withOptionalArray(initialH) { hp in
                                withOptionalArray(initialC) { cp in
                                    withOptionalArray(peepholes) { pp in
                                        lstm(p, x: xp, w: wp, r: rp, b: bp, sequenceLengths: lp, initialH: hp,
                                             initialC: cp, peepholes: pp, y: &y, yH: &yH, yC: &yC)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    case .gru, .rnn:
        gatedRecurrence(cell, seq: seq, batch: batch, input: input, hidden: hidden, dirs: dirs, reverse: direction == .reverse,
                        x: xs.floatValues(), w: w.floatValues(), r: r.floatValues(), b: bias, lengths: lengths.map { $0.map(Int.init) } ?? Array(repeating: seq, count: batch),
                        initialH: initialH, activations: acts, clip: clip,
                        linearBeforeReset: ctx.int("linear_before_reset", default: 0) != 0, y: &y, yH: &yH)
    }
    let outputCount = min(ctx.node.outputs.count, cell == .lstm ? 3 : 2)
    if layout == 1 {
        // [seq, D, batch, H] → [batch, seq, D, H]; [D, batch, H] → [batch, D, H].
        var yb = [Float](repeating: 0, count: y.count)
        for t in 0..<seq {
            for d in 0..<dirs {
                for b in 0..<batch {
                    for k in 0..<hidden { yb[((b * seq + t) * dirs + d) * hidden + k] = y[((t * dirs + d) * batch + b) * hidden + k] }
                }
            }
        }
        return Array([Tensor(floats: yb, shape: [batch, seq, dirs, hidden]),
                      Tensor(floats: swapLeading(yH, dirs, batch, hidden), shape: [batch, dirs, hidden]),
                      Tensor(floats: swapLeading(yC, dirs, batch, hidden), shape: [batch, dirs, hidden])].prefix(outputCount))
    }
    return [Tensor(floats: y, shape: [seq, dirs, batch, hidden]), Tensor(floats: yH, shape: [dirs, batch, hidden]),
            Tensor(floats: yC, shape: [dirs, batch, hidden])].prefix(outputCount).map { $0 }
}

/// GRU (3 gates z, r, h) or RNN (1 gate) over all directions, writing Y [seq, D, batch, H] and Y_h [D, batch, H].
private func gatedRecurrence(
    _ cell: Cell, seq: Int, batch: Int, input: Int, hidden: Int, dirs: Int, reverse: Bool, x: [Float], w: [Float],
    r: [Float], b: [Float]?, lengths: [Int], initialH: [Float]?, activations: [UnaryOp], clip: Float?,
    linearBeforeReset: Bool, y: inout [Float], yH: inout [Float]
) {
    let g = cell.gates
    let perDirection = activations.count / dirs
    func apply(_ op: UnaryOp, _ v: inout [Float]) {
        if let clip { for i in v.indices { v[i] = min(max(v[i], -clip), clip) } }
        v.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            unary(op, x: base, y: base, count: p.count)
        }
    }
    for d in 0..<dirs {
        let backward = reverse || d == 1
        let f = activations[d * perDirection], act2 = activations[d * perDirection + perDirection - 1]
        let wd = d * g * hidden * input, rd = d * g * hidden * hidden, bd = d * 2 * g * hidden
        // Dot product of row `row` of W (or R) with a vector.
        func project(_ m: [Float], _ base: Int, _ row: Int, _ width: Int, _ v: [Float], _ offset: Int) -> Float {
            var s: Float = 0
            for k in 0..<width { s += m[base + row * width + k] * v[offset + k] }
            return s
        }
        for bi in 0..<batch {
            var h = initialH.map { Array($0[((d * batch + bi) * hidden)..<((d * batch + bi + 1) * hidden)]) }
                ?? [Float](repeating: 0, count: hidden)
            let len = lengths[bi]
            for step in 0..<len {
                let t = backward ? len - 1 - step : step
                let xo = (t * batch + bi) * input
                func pre(_ gate: Int, _ k: Int, withRecurrence: Bool) -> Float {
                    let row = gate * hidden + k
                    var s = project(w, wd, row, input, x, xo)
                    if let b { s += b[bd + row] + (withRecurrence ? b[bd + g * hidden + row] : 0) }
                    if withRecurrence { s += project(r, rd, row, hidden, h, 0) }
                    return s
                }
                var next = [Float](repeating: 0, count: hidden)
                if cell == .rnn {
                    var a = (0..<hidden).map { pre(0, $0, withRecurrence: true) }
                    apply(f, &a)
                    next = a
                } else {
                    var z = (0..<hidden).map { pre(0, $0, withRecurrence: true) }
                    var rg = (0..<hidden).map { pre(1, $0, withRecurrence: true) }
                    apply(f, &z)
                    apply(f, &rg)
                    var candidate = [Float](repeating: 0, count: hidden)
                    let rb = bd + g * hidden + 2 * hidden
                    let gated = (0..<hidden).map { rg[$0] * h[$0] }
                    for k in 0..<hidden {
                        let row = 2 * hidden + k
                        var s = project(w, wd, row, input, x, xo) + (b?[bd + row] ?? 0)
                        if linearBeforeReset {
                            s += rg[k] * (project(r, rd, row, hidden, h, 0) + (b?[rb + k] ?? 0))
                        } else {
                            s += project(r, rd, row, hidden, gated, 0) + (b?[rb + k] ?? 0)
                        }
                        candidate[k] = s
                    }
                    apply(act2, &candidate)
                    for k in 0..<hidden { next[k] = (1 - z[k]) * candidate[k] + z[k] * h[k] }
                }
                h = next
                for k in 0..<hidden { y[((t * dirs + d) * batch + bi) * hidden + k] = h[k] }
            }
            for k in 0..<hidden { yH[(d * batch + bi) * hidden + k] = h[k] }
        }
    }
}
