/// numpy's legacy `RandomState` generator (MT19937 seeded by `np.random.seed(int)`), so ops whose ONNX reference
/// draws random numbers (Dropout in training mode, with a `seed`) reproduce the reference data bit for bit.
struct NumpyRandom {
    private var state = [UInt32](repeating: 0, count: 624)
    private var position = 624

    /// `np.random.seed(seed)`: the MT19937 init_genrand recurrence.
    init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 { state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i) }
    }

    mutating func next32() -> UInt32 {
        if position >= 624 { regenerate() }
        var y = state[position]
        position += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `np.random.random_sample()`: 53 random bits in [0, 1).
    mutating func nextDouble() -> Double {
        let a = Double(next32() >> 5), b = Double(next32() >> 6)
        return (a * 67_108_864 + b) / 9_007_199_254_740_992
    }

    private mutating func regenerate() {
        for i in 0..<624 {
            let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7FFF_FFFF)
            var v = state[(i + 397) % 624] ^ (y >> 1)
            if y & 1 != 0 { v ^= 0x9908_B0DF }
            state[i] = v
        }
        position = 0
    }
}
