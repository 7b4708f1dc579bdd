/// Per-tensor uint8 quantization of an activation: `real = (q − zeroPoint) · scale`.
package struct QuantParams: Sendable, Hashable, CustomStringConvertible {
    package var scale: Float
    package var zeroPoint: Int

    package init(scale: Float, zeroPoint: Int) { self.scale = scale; self.zeroPoint = zeroPoint }

    /// The asymmetric uint8 grid covering `[lo, hi]` widened to contain 0, so that real
    /// zero (ReLU's floor, zero padding) is exactly representable.
    package init(lo: Float, hi: Float) {
        let a = min(lo, 0), b = max(hi, 0)
        // A constant-zero tensor still needs a valid (positive) scale; a range past Float's
        // (histograms of a STAT section hold any finite floats, and `widened` multiplies)
        // takes the largest finite one, so the scale stays finite.
        let range = min(max(b - a, 1e-8), .greatestFiniteMagnitude)
        scale = range / 255
        // Clamped in float first; NaN (an infinite bound) would trap the Int conversion.
        let z = (-a / scale).rounded(.toNearestOrEven)
        zeroPoint = z.isNaN ? 0 : Int(min(max(z, 0), 255))
    }

    /// The grid over `[lo·f, hi·f]` (f >= 1): the same zero, a coarser step, no clipping
    /// of values up to f times the calibrated range.
    package func widened(by f: Float) -> QuantParams {
        f == 1 ? self : QuantParams(lo: lo * f, hi: hi * f)
    }

    /// The real range the grid represents.
    package var lo: Float { Float(0 - zeroPoint) * scale }
    package var hi: Float { Float(255 - zeroPoint) * scale }

    package var description: String { "scale \(scale) zero point \(zeroPoint)" }
}
