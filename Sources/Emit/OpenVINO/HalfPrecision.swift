/// Float → IEEE binary16 bits, rounding to nearest even (what `Float16(x)` does), without the library call that
/// `Float16.init` becomes on x86-64 without F16C: weight compression converts every parameter of the model.
public enum HalfPrecision {
    @inline(__always)
    public static func bits(of value: Float) -> UInt16 {
        let x = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
        let exponent = Int((x >> 23) & 0xFF)
        var mantissa = x & 0x7F_FFFF
        if exponent == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0) }  // inf, NaN (quiet)
        let e = exponent - 112  // rebias 127 → 15
        if e >= 0x1F { return sign | 0x7C00 }  // overflow → inf
        if e <= 0 {
            // Subnormal half: units of 2⁻²⁴; below 2⁻²⁵ everything rounds to zero.
            if e < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - e)
            var h = mantissa >> shift
            let rest = mantissa & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if rest > halfway || (rest == halfway && h & 1 != 0) { h += 1 }
            return sign | UInt16(truncatingIfNeeded: h)
        }
        var h = UInt32(e) << 10 | mantissa >> 13
        let rest = mantissa & 0x1FFF
        // A carry out of the mantissa correctly bumps the exponent (up to inf).
        if rest > 0x1000 || (rest == 0x1000 && h & 1 != 0) { h += 1 }
        return sign | UInt16(truncatingIfNeeded: h)
    }
}
