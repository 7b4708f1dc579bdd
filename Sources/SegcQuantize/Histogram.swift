import Dispatch

/// The calibration statistics of one activation: its exact minimum and maximum over
/// every image, and a histogram of its values in fixed bins (bounded memory: nothing
/// of the activations is stored).
package struct Histogram: Sendable, Equatable {
    /// Bins span `[lo, hi)` in `counts.count` equal steps; values outside land in the
    /// first or last bin (the range is set with a margin from the first images, so that
    /// is rare, and `min`/`max` stay exact).
    package var lo: Float
    package var hi: Float
    package var counts: [UInt64]
    package var min: Float = .infinity
    package var max: Float = -.infinity

    package static let defaultBins = 2048

    package init(lo: Float, hi: Float, bins: Int = Histogram.defaultBins) {
        precondition(bins > 0)
        self.lo = lo
        self.hi = hi > lo ? hi : lo + 1e-6
        counts = [UInt64](repeating: 0, count: bins)
    }

    package var total: UInt64 { counts.reduce(0, &+) }
    package var binWidth: Float { (hi - lo) / Float(counts.count) }

    /// Adds `values` (NaNs are ignored).
    package mutating func add(_ values: UnsafeBufferPointer<Float>) {
        let n = counts.count
        let scale = Float(n) / (hi - lo), base = lo
        var mn = min, mx = max
        counts.withUnsafeMutableBufferPointer { c in
            for x in values {
                if x != x { continue }
                if x < mn { mn = x }
                if x > mx { mx = x }
                let f = (x - base) * scale
                if f != f { continue }   // NaN
                // Clamp in float first: huge values must not overflow the Int conversion.
                let k = f < 0 ? 0 : (f >= Float(n) ? n - 1 : Int(f))
                c[k] &+= 1
            }
        }
        min = mn; max = mx
    }

    /// `add` split over `parts` threads (the calibration observer runs between kernels,
    /// when the pool's threads are idle); the same counts as `add`.
    package mutating func addConcurrently(_ values: UnsafeBufferPointer<Float>, parts: Int) {
        if parts <= 1 || values.count < 1 << 16 { add(values); return }
        let n = values.count, chunk = (n + parts - 1) / parts
        var partial = [Histogram](repeating: Histogram(lo: lo, hi: hi, bins: counts.count), count: parts)
        partial.withUnsafeMutableBufferPointer { hp in
            nonisolated(unsafe) let base = hp.baseAddress!
            nonisolated(unsafe) let v = values
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let s = p * chunk, e = Swift.min(n, s + chunk)
                if s < e { base[p].add(UnsafeBufferPointer(rebasing: v[s..<e])) }
            }
        }
        for h in partial { merge(h) }
    }

    /// Adds another histogram over the same bins.
    package mutating func merge(_ other: Histogram) {
        precondition(other.counts.count == counts.count && other.lo == lo && other.hi == hi)
        for i in counts.indices { counts[i] &+= other.counts[i] }
        min = Swift.min(min, other.min); max = Swift.max(max, other.max)
    }

    /// The value below which a fraction `q` (0…1) of the samples lie (linear within a bin).
    package func quantile(_ q: Double) -> Float {
        let t = total
        if t == 0 { return 0 }
        let target = q * Double(t)
        var acc = 0.0
        for (i, c) in counts.enumerated() {
            let next = acc + Double(c)
            if next >= target && c > 0 {
                let frac = Float((target - acc) / Double(c))
                return lo + (Float(i) + frac) * binWidth
            }
            acc = next
        }
        return hi
    }

    /// The same counts in `bins` coarser bins (`counts.count` must be a multiple).
    package func rebinned(_ bins: Int) -> Histogram {
        precondition(bins > 0 && counts.count % bins == 0)
        var h = Histogram(lo: lo, hi: hi, bins: bins)
        let f = counts.count / bins
        for i in 0..<bins { h.counts[i] = counts[(i * f)..<((i + 1) * f)].reduce(0, &+) }
        h.min = min; h.max = max
        return h
    }
}
