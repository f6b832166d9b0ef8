import Foundation
import XCTest
import Kernels

final class LSTMTests: XCTestCase {
    struct Outputs { var y: [Float]; var yH: [Float]; var yC: [Float] }

    /// Straight transcription of the ONNX LSTM equations in Double (default activations).
    func reference(
        _ p: LSTMParams, x: [Float], w: [Float], r: [Float], b: [Float], lens: [Int], h0: [Float], c0: [Float],
        peep: [Float]?
    ) -> Outputs {
        let (seq, batch, inp, hid) = (p.sequenceLength, p.batch, p.inputSize, p.hiddenSize)
        let dirs = p.direction.count
        func sig(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
        func cl(_ v: Double) -> Double { p.clip.map { min(max(v, -Double($0)), Double($0)) } ?? v }
        var y = [Float](repeating: 0, count: seq * dirs * batch * hid)
        var yH = [Float](repeating: 0, count: dirs * batch * hid), yC = yH
        for d in 0..<dirs {
            let reverse = p.direction == .reverse || d == 1
            for bi in 0..<batch {
                var h = (0..<hid).map { Double(h0[(d * batch + bi) * hid + $0]) }
                var c = (0..<hid).map { Double(c0[(d * batch + bi) * hid + $0]) }
                for s in 0..<lens[bi] {
                    let t = reverse ? lens[bi] - 1 - s : s
                    var pre = [Double](repeating: 0, count: 4 * hid)
                    for gRow in 0..<(4 * hid) {
                        var v = Double(b[d * 8 * hid + gRow]) + Double(b[d * 8 * hid + 4 * hid + gRow])
                        for k in 0..<inp {
                            v += Double(x[(t * batch + bi) * inp + k]) * Double(w[(d * 4 * hid + gRow) * inp + k])
                        }
                        for k in 0..<hid { v += h[k] * Double(r[(d * 4 * hid + gRow) * hid + k]) }
                        pre[gRow] = v
                    }
                    var newH = h, newC = c
                    for k in 0..<hid {
                        let pi = peep.map { Double($0[d * 3 * hid + k]) } ?? 0
                        let po = peep.map { Double($0[d * 3 * hid + hid + k]) } ?? 0
                        let pf = peep.map { Double($0[d * 3 * hid + 2 * hid + k]) } ?? 0
                        let i = sig(cl(pre[k] + pi * c[k]))
                        let f = p.inputForget ? 1 - i : sig(cl(pre[2 * hid + k] + pf * c[k]))
                        let g = Foundation.tanh(cl(pre[3 * hid + k]))
                        newC[k] = f * c[k] + i * g
                        let o = sig(cl(pre[hid + k] + po * newC[k]))
                        newH[k] = o * Foundation.tanh(newC[k])
                    }
                    h = newH
                    c = newC
                    for k in 0..<hid { y[((t * dirs + d) * batch + bi) * hid + k] = Float(h[k]) }
                }
                for k in 0..<hid {
                    yH[(d * batch + bi) * hid + k] = Float(h[k])
                    yC[(d * batch + bi) * hid + k] = Float(c[k])
                }
            }
        }
        return Outputs(y: y, yH: yH, yC: yC)
    }

    func check(_ p: LSTMParams, lens: [Int32]?, peepholes: Bool, file: StaticString = #filePath, line: UInt = #line) {
        let (seq, batch, inp, hid) = (p.sequenceLength, p.batch, p.inputSize, p.hiddenSize)
        let dirs = p.direction.count
        let x = randomFloats(seq * batch * inp, seed: 61)
        let w = randomFloats(dirs * 4 * hid * inp, in: -0.5...0.5, seed: 62)
        let r = randomFloats(dirs * 4 * hid * hid, in: -0.5...0.5, seed: 63)
        let b = randomFloats(dirs * 8 * hid, in: -0.5...0.5, seed: 64)
        let h0 = randomFloats(dirs * batch * hid, seed: 65), c0 = randomFloats(dirs * batch * hid, seed: 66)
        let peep = peepholes ? randomFloats(dirs * 3 * hid, seed: 67) : nil
        var y = [Float](repeating: .nan, count: seq * dirs * batch * hid)
        var yH = [Float](repeating: .nan, count: dirs * batch * hid), yC = yH
        let ref = reference(p, x: x, w: w, r: r, b: b, lens: lens.map { $0.map(Int.init) } ?? Array(repeating: seq, count: batch),
                            h0: h0, c0: c0, peep: peep)
        let run = { (lp: UnsafePointer<Int32>?, pp: UnsafePointer<Float>?) in
            lstm(p, x: x, w: w, r: r, b: b, sequenceLengths: lp, initialH: h0, initialC: c0, peepholes: pp,
                 y: &y, yH: &yH, yC: &yC)
        }
        if let lens {
            lens.withUnsafeBufferPointer { lp in
                if let peep { peep.withUnsafeBufferPointer { run(lp.baseAddress, $0.baseAddress) } } else {
                    run(lp.baseAddress, nil)
                }
            }
        } else if let peep {
            peep.withUnsafeBufferPointer { run(nil, $0.baseAddress) }
        } else {
            run(nil, nil)
        }
        // Bounded recurrences (sigmoid/tanh contract errors); Float sums of ≤ 20 terms per step: 1e-5 holds.
        assertClose(y, ref.y, tol: 1e-5, "Y \(p.direction)", file: file, line: line)
        assertClose(yH, ref.yH, tol: 1e-5, "Y_h", file: file, line: line)
        assertClose(yC, ref.yC, tol: 1e-5, "Y_c", file: file, line: line)
    }

    func testDirectionsLengthsPeepholesClip() {
        for dir in [RNNDirection.forward, .reverse, .bidirectional] {
            check(LSTMParams(sequenceLength: 5, batch: 3, inputSize: 7, hiddenSize: 9, direction: dir),
                  lens: nil, peepholes: false)
            check(LSTMParams(sequenceLength: 5, batch: 3, inputSize: 7, hiddenSize: 9, direction: dir),
                  lens: [5, 2, 0], peepholes: true)
            check(LSTMParams(sequenceLength: 4, batch: 2, inputSize: 3, hiddenSize: 17, direction: dir,
                             clip: 0.5, inputForget: true), lens: [3, 4], peepholes: true)
        }
    }
}
