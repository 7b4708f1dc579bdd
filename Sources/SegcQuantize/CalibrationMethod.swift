import Foundation

/// How an activation's uint8 range is chosen from its calibration histogram
/// (product.md §3.5).
package enum CalibrationMethod: Sendable, Equatable {
    /// The exact minimum and maximum seen.
    case minmax
    /// The `p`-th and `(100 − p)`-th percentiles (p in (50, 100]).
    case percentile(Double)
    /// TensorRT's entropy calibration: the clipping threshold whose 255-level
    /// quantized distribution has the least KL divergence from the histogram.
    case entropy
    /// The range whose uint8 grid has the least expected squared error on the histogram
    /// (rounding noise step²/12 inside, distance to the edge outside).
    case mse

    package var name: String {
        switch self {
        case .minmax: return "minmax"
        case .percentile: return "percentile"
        case .entropy: return "entropy"
        case .mse: return "mse"
        }
    }

    /// The quantization grid for `h`.
    package func params(_ h: Histogram) -> QuantParams {
        guard h.total > 0, h.min <= h.max else { return QuantParams(lo: 0, hi: 1) }
        switch self {
        case .minmax:
            return QuantParams(lo: h.min, hi: h.max)
        case .percentile(let p):
            let lo = h.min < 0 ? Swift.max(h.quantile(1 - p / 100), h.min) : h.min
            let hi = h.max > 0 ? Swift.min(h.quantile(p / 100), h.max) : h.max
            return QuantParams(lo: lo, hi: hi)
        case .entropy:
            return Self.entropyParams(h)
        case .mse:
            return Self.mseParams(h)
        }
    }

    /// Searches clipping ranges [lo, hi] (lo = min when the tensor is non-negative) for the
    /// least expected squared quantization error over the histogram's bin centres.
    static func mseParams(_ h: Histogram) -> QuantParams {
        let n = h.counts.count, w = h.binWidth
        let centres = (0..<n).map { h.lo + (Float($0) + 0.5) * w }
        let counts = h.counts.map(Double.init)
        func error(_ p: QuantParams) -> Double {
            let lo = Double(p.lo), hi = Double(p.hi), step = Double(p.scale)
            var e = 0.0
            for i in 0..<n where counts[i] > 0 {
                let x = Double(centres[i])
                if x < lo { e += counts[i] * (lo - x) * (lo - x) }
                else if x > hi { e += counts[i] * (x - hi) * (x - hi) }
                else { e += counts[i] * step * step / 12 }
            }
            return e
        }
        let full = QuantParams(lo: h.min, hi: h.max)
        var best = full, bestE = error(full)
        // Shrink both ends by the same fraction of their extent: 1, 0.99, …, 0.05.
        for k in 1..<96 {
            let f = 1 - Float(k) * 0.01
            let p = QuantParams(lo: h.min < 0 ? h.min * f : h.min, hi: h.max > 0 ? h.max * f : h.max)
            let e = error(p)
            if e < bestE { bestE = e; best = p }
        }
        return best
    }

    /// KL-divergence threshold search (TensorRT, "8-bit Inference with TensorRT", 2017),
    /// on the side of zero that holds most of the mass; the other side is kept whole
    /// (minmax), since the networks' activations are mostly one-sided (after ReLU).
    static func entropyParams(_ h: Histogram) -> QuantParams {
        let n = h.counts.count
        let w = h.binWidth
        // Index of the bin holding zero, clamped into the histogram in float first: the
        // Int conversion traps on NaN and on values past Int's range.
        let z = ((0 - h.lo) / w).rounded(.down)
        let zeroBin = z.isNaN ? 0 : Int(Swift.min(Swift.max(z, 0), Float(n - 1)))
        let positive = Array(h.counts[zeroBin...])
        let negative = Array(h.counts[..<zeroBin].reversed())
        let posMass = positive.reduce(0, &+), negMass = negative.reduce(0, &+)
        if posMass >= negMass {
            let t = threshold(positive, levels: negMass == 0 ? 255 : 128)
            let hi = Swift.min(h.lo + Float(zeroBin + t) * w, h.max)
            return QuantParams(lo: h.min, hi: hi)
        } else {
            let t = threshold(negative, levels: posMass == 0 ? 255 : 128)
            let lo = Swift.max(h.lo + Float(zeroBin - t) * w, h.min)
            return QuantParams(lo: lo, hi: h.max)
        }
    }

    /// The number of bins (from 0) to keep: minimises KL(P‖Q) where P is the
    /// histogram clipped at the threshold (outliers added to its last bin) and Q its
    /// quantization to `levels` levels (empty bins stay empty).
    static func threshold(_ bins: [UInt64], levels: Int) -> Int {
        let n = bins.count
        guard let last = bins.lastIndex(where: { $0 > 0 }) else { return n }
        let used = last + 1
        if used <= levels { return used }
        var best = used, bestKL = Double.infinity
        let p64 = bins.map(Double.init)
        var step = Swift.max(1, (used - levels) / 256)   // at most ~256 candidates
        if step < 1 { step = 1 }
        var t = levels
        while t <= used {
            var p = Array(p64[0..<t])
            p[t - 1] += p64[t..<used].reduce(0, +)
            // Q: merge t bins into `levels` groups, spread each group's mass over its non-empty bins.
            var q = [Double](repeating: 0, count: t)
            for j in 0..<levels {
                let a = j * t / levels, b = (j + 1) * t / levels
                if b <= a { continue }
                var mass = 0.0, nonEmpty = 0
                // Q comes from the unclipped bins (TensorRT): the clipped tail is what P has
                // and Q lacks, which is what makes clipping too early expensive.
                for i in a..<b where p64[i] > 0 { mass += p64[i]; nonEmpty += 1 }
                if nonEmpty == 0 { continue }
                for i in a..<b where p64[i] > 0 { q[i] = mass / Double(nonEmpty) }
            }
            let sp = p.reduce(0, +), sq = q.reduce(0, +)
            var kl = 0.0
            if sp > 0 && sq > 0 {
                for i in 0..<t where p[i] > 0 {
                    let pi = p[i] / sp
                    let qi = q[i] > 0 ? q[i] / sq : 1e-12
                    kl += pi * Foundation.log(pi / qi)
                }
            }
            if kl < bestKL { bestKL = kl; best = t }
            t += step
        }
        return best
    }
}
