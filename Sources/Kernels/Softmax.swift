import Foundation

/// Softmax / LogSoftmax along one axis of a contiguous tensor viewed as [outer, axisLength, inner].
///
/// `inner == 1` (last axis) works row by row on contiguous data; otherwise the axis is strided and each
/// [axisLength, inner] block is processed with vectors running along `inner`. Max-subtraction keeps exp in range.
public func softmax(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, axisLength: Int, inner: Int, log: Bool = false
) {
    guard outer > 0, axisLength > 0, inner > 0 else { return }
    let block = axisLength * inner
    parallelFor(outer, minChunk: max(1, 16_384 / block)) { range in
        if inner == 1 && axisLength < FloatVector.scalarCount {
            softmaxShortRows(x, y, range, axisLength, log)
        } else if inner == 1 {
            for o in range { softmaxRow(x + o * block, y + o * block, axisLength, log) }
        } else {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: inner * 2)
            defer { scratch.deallocate() }
            for o in range { softmaxStrided(x + o * block, y + o * block, axisLength, inner, log, scratch) }
        }
    }
}

@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ log: Bool) {
    let m = vectorExtreme(x, n, minimum: false)
    if log {
        // Sum of exp without storing it, then y = x - m - log(sum).
        var s: Float = 0
        var i = 0
        let w = FloatVector.scalarCount
        var acc = FloatVector()
        let raw = UnsafeRawPointer(x)
        while i + w <= n {
            acc += VectorMath.exp(raw.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self) - m)
            i += w
        }
        if i < n {
            var v = FloatVector(repeating: -.infinity)
            for j in 0..<(n - i) { v[j] = x[i + j] - m }
            acc += VectorMath.exp(v)
        }
        s = acc.sum()
        let shift = m + Float(Foundation.log(Double(s)))
        mapVectors(x, y, n) { $0 - shift }
    } else {
        mapVectors(x, y, n) { VectorMath.exp($0 - m) }
        let inv = 1 / vectorSum(y, n)
        mapVectors(y, y, n) { $0 * inv }
    }
}

/// Rows shorter than a vector (e.g. 2-class scores per pixel): exp runs over the contiguous x - max of many rows at
/// once instead of one mostly padded vector per row. Same arithmetic per element as `softmaxRow`.
func softmaxShortRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ rows: Range<Int>, _ n: Int, _ log: Bool) {
    let chunkRows = max(1, 4096 / n)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: chunkRows * n)
    defer { scratch.deallocate() }
    var start = rows.lowerBound
    while start < rows.upperBound {
        let count = min(chunkRows, rows.upperBound - start)
        let xs = x + start * n, ys = y + start * n
        // Shifted inputs go to scratch (log) or straight to y, then exp in place.
        let e = log ? scratch : ys
        for r in 0..<count {
            let row = xs + r * n
            var m = row[0]
            for j in 1..<n where row[j] > m { m = row[j] }
            for j in 0..<n { e[r * n + j] = row[j] - m }
            if log { for j in 0..<n { ys[r * n + j] = e[r * n + j] } }
        }
        unarySerial(.exp, e, e, count * n)
        for r in 0..<count {
            let row = e + r * n
            var sum: Float = 0
            for j in 0..<n { sum += row[j] }
            if log {
                let shift = Float(Foundation.log(Double(sum)))
                for j in 0..<n { ys[r * n + j] -= shift }
            } else {
                let inv = 1 / sum
                for j in 0..<n { row[j] *= inv }
            }
        }
        start += count
    }
}

@inline(__always)
func softmaxStrided(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ len: Int, _ inner: Int, _ log: Bool,
    _ scratch: UnsafeMutablePointer<Float>
) {
    let mx = scratch, sum = scratch + inner
    mx.update(from: x, count: inner)
    for r in 1..<max(1, len) {
        binaryLoop(mx, 1, x + r * inner, 1, mx, inner, { a, b in a.replacing(with: b, where: b .> a) }, { max($0, $1) })
    }
    sum.update(repeating: 0, count: inner)
    for r in 0..<len {
        let xr = x + r * inner, yr = y + r * inner
        binaryLoop(xr, 1, mx, 1, yr, inner, { VectorMath.exp($0 - $1) }, { a, b in
            var v = FloatVector(repeating: a - b)
            v = VectorMath.exp(v)
            return v[0]
        })
        binaryLoop(sum, 1, yr, 1, sum, inner, { $0 + $1 }, { $0 + $1 })
    }
    if log {
        // shift = max + log(sum); y = x - shift.
        unarySerial(.log, sum, sum, inner)
        binaryLoop(sum, 1, mx, 1, sum, inner, { $0 + $1 }, { $0 + $1 })
        for r in 0..<len {
            binaryLoop(x + r * inner, 1, sum, 1, y + r * inner, inner, { $0 - $1 }, { $0 - $1 })
        }
    } else {
        mapVectors(sum, sum, inner) { 1 / $0 }
        for r in 0..<len {
            binaryLoop(y + r * inner, 1, sum, 1, y + r * inner, inner, { $0 * $1 }, { $0 * $1 })
        }
    }
}
