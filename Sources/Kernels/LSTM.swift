/// ONNX LSTM `direction`.
public enum RNNDirection: Sendable, Equatable {
    case forward, reverse, bidirectional
    public var count: Int { self == .bidirectional ? 2 : 1 }
}

/// Shape and attributes of an ONNX LSTM (layout 0: sequence-major).
public struct LSTMParams: Sendable, Equatable {
    public var sequenceLength: Int
    public var batch: Int
    public var inputSize: Int
    public var hiddenSize: Int
    public var direction: RNNDirection
    /// f, g, h activations per direction (ONNX default Sigmoid, Tanh, Tanh).
    public var activations: [(f: UnaryOp, g: UnaryOp, h: UnaryOp)]
    /// Gate pre-activations are clipped to [-clip, clip] when set.
    public var clip: Float?
    /// Couples the forget gate to the input gate: f = 1 - i.
    public var inputForget: Bool

    public init(
        sequenceLength: Int, batch: Int, inputSize: Int, hiddenSize: Int, direction: RNNDirection = .forward,
        activations: [(f: UnaryOp, g: UnaryOp, h: UnaryOp)]? = nil, clip: Float? = nil, inputForget: Bool = false
    ) {
        self.sequenceLength = sequenceLength
        self.batch = batch
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.direction = direction
        self.activations = activations
            ?? Array(repeating: (UnaryOp.sigmoid, UnaryOp.tanh, UnaryOp.tanh), count: direction.count)
        self.clip = clip
        self.inputForget = inputForget
    }

    public static func == (a: LSTMParams, b: LSTMParams) -> Bool {
        a.sequenceLength == b.sequenceLength && a.batch == b.batch && a.inputSize == b.inputSize
            && a.hiddenSize == b.hiddenSize && a.direction == b.direction && a.clip == b.clip
            && a.inputForget == b.inputForget && a.activations.count == b.activations.count
            && zip(a.activations, b.activations).allSatisfy { $0.f == $1.f && $0.g == $1.g && $0.h == $1.h }
    }
}

/// ONNX LSTM forward pass (gate order i, o, f, c).
///
/// Layouts (D = directions, H = hidden): x [seq, batch, input]; w [D, 4H, input]; r [D, 4H, H];
/// b [D, 8H] (Wb then Rb) or nil; sequenceLengths [batch] or nil (all = seq); initialH/initialC [D, batch, H] or nil
/// (zeros); peepholes [D, 3H] (i, o, f) or nil. Outputs, each optional: y [seq, D, batch, H] (zero past a batch
/// entry's length), yH / yC [D, batch, H].
///
/// Input projections for every time step are one sgemm per direction (x · Wᵀ + Wb + Rb); each step then adds
/// h · Rᵀ (one sgemm over the batch) and runs the gate math on vectors.
public func lstm(
    _ p: LSTMParams, x: UnsafePointer<Float>, w: UnsafePointer<Float>, r: UnsafePointer<Float>,
    b: UnsafePointer<Float>?, sequenceLengths: UnsafePointer<Int32>?, initialH: UnsafePointer<Float>?,
    initialC: UnsafePointer<Float>?, peepholes: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>?, yH: UnsafeMutablePointer<Float>?, yC: UnsafeMutablePointer<Float>?
) {
    let (seq, batch, input, hidden) = (p.sequenceLength, p.batch, p.inputSize, p.hiddenSize)
    let dirs = p.direction.count
    precondition(p.activations.count == dirs, "lstm: one activation triple per direction")
    guard batch > 0, hidden > 0 else { return }
    let g4 = 4 * hidden
    if let y { y.update(repeating: 0, count: seq * dirs * batch * hidden) }
    let projection = UnsafeMutablePointer<Float>.allocate(capacity: max(1, seq * batch * g4))
    let gates = UnsafeMutablePointer<Float>.allocate(capacity: batch * g4)
    let h = UnsafeMutablePointer<Float>.allocate(capacity: batch * hidden)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: batch * hidden)
    defer {
        projection.deallocate()
        gates.deallocate()
        h.deallocate()
        c.deallocate()
    }
    let lens = (0..<batch).map { bi in sequenceLengths.map { min(seq, max(0, Int($0[bi]))) } ?? seq }

    for d in 0..<dirs {
        let reverse = p.direction == .reverse || d == 1
        let (fAct, gAct, hAct) = p.activations[d]
        // projection[t, b, :] = x[t, b, :] · Wᵀ + Wb + Rb
        if let b {
            let wb = b + d * 8 * hidden, rb = wb + g4
            for row in 0..<(seq * batch) {
                let dst = projection + row * g4
                for j in 0..<g4 { dst[j] = wb[j] + rb[j] }
            }
        }
        if seq * batch > 0 {
            sgemm(transA: false, transB: true, m: seq * batch, n: g4, k: input, a: x, lda: input,
                  b: w + d * g4 * input, ldb: input, beta: b == nil ? 0 : 1, c: projection, ldc: g4)
        }
        if let initialH { h.update(from: initialH + d * batch * hidden, count: batch * hidden) } else {
            h.update(repeating: 0, count: batch * hidden)
        }
        if let initialC { c.update(from: initialC + d * batch * hidden, count: batch * hidden) } else {
            c.update(repeating: 0, count: batch * hidden)
        }
        let rd = r + d * g4 * hidden
        let pd = peepholes.map { $0 + d * 3 * hidden }
        for step in 0..<seq {
            // gates = h · Rᵀ for the whole batch (rows past their length are computed and ignored).
            sgemm(transA: false, transB: true, m: batch, n: g4, k: hidden, a: h, lda: hidden, b: rd, ldb: hidden,
                  c: gates, ldc: g4)
            for bi in 0..<batch where step < lens[bi] {
                let t = reverse ? lens[bi] - 1 - step : step
                let gRow = gates + bi * g4
                let xRow = projection + (t * batch + bi) * g4
                binaryLoop(gRow, 1, xRow, 1, gRow, g4, { $0 + $1 }, { $0 + $1 })
                lstmCell(gRow, h + bi * hidden, c + bi * hidden, hidden, pd, fAct, gAct, hAct, p.clip, p.inputForget)
                if let y {
                    (y + ((t * dirs + d) * batch + bi) * hidden).update(from: h + bi * hidden, count: hidden)
                }
            }
        }
        if let yH { (yH + d * batch * hidden).update(from: h, count: batch * hidden) }
        if let yC { (yC + d * batch * hidden).update(from: c, count: batch * hidden) }
    }
}

/// One cell update from pre-activations `g` = [i, o, f, c] (each `n` long); updates `h` and `c` in place.
func lstmCell(
    _ g: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ n: Int,
    _ peep: UnsafePointer<Float>?, _ fAct: UnaryOp, _ gAct: UnaryOp, _ hAct: UnaryOp, _ clip: Float?,
    _ inputForget: Bool
) {
    let gi = g, go = g + n, gf = g + 2 * n, gc = g + 3 * n
    if let peep {
        for k in 0..<n {
            gi[k] += peep[k] * c[k]
            gf[k] += peep[2 * n + k] * c[k]
        }
    }
    if let clip {
        // The o gate's peephole term uses the new c, so it is clipped after that term is added.
        unarySerial(.clip(min: -clip, max: clip), gi, gi, n)
        unarySerial(.clip(min: -clip, max: clip), gf, gf, 2 * n)
    }
    unarySerial(fAct, gi, gi, n)
    if inputForget {
        mapVectors(gi, gf, n) { 1 - $0 }
    } else {
        unarySerial(fAct, gf, gf, n)
    }
    unarySerial(gAct, gc, gc, n)
    // c = f ⊙ c + i ⊙ c̃
    for k in 0..<n { c[k] = gf[k] * c[k] + gi[k] * gc[k] }
    if let peep {
        for k in 0..<n { go[k] += peep[n + k] * c[k] }
    }
    if let clip { unarySerial(.clip(min: -clip, max: clip), go, go, n) }
    unarySerial(fAct, go, go, n)
    // h = o ⊙ h(c)
    unarySerial(hAct, c, h, n)
    binaryLoop(h, 1, go, 1, h, n, { $0 * $1 }, { $0 * $1 })
}
