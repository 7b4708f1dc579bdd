import SegcPlan

/// Symmetric per-output-channel int8 weights (product.md §3.5): channel `co`'s scale is
/// max|w| / 127 and its values round to [−127, 127] (the symmetric range; only a source
/// model's own grid, `keepGrid`, may also hold −128).
package struct QuantizedWeights {
    package var values: [Int8]
    package var scales: [Float]

    /// `w` in the plan's layout; `channelOf(i)` gives the output channel of element i.
    /// `keepGrid`: a channel whose weights already lie on an int8 grid (dequantized from
    /// int8 — a QDQ model's or an FX checkpoint's weights, possibly scaled by a folded BN)
    /// keeps that grid instead of being re-rounded onto max|w| / 127, so the int8 values
    /// are the source's own, −128 included (FX's symmetric range is −128…127 with scale
    /// max|w| / 127.5; the kernels take the full int8 range, `QuantConvKernelTests`). Re-rounding
    /// instead, or clamping −128 to −127, costs the FX ERFNet ~1 % of argmax agreement with
    /// PyTorch's own int8 model on city1 (98.05 / 98.86 %).
    package init(_ w: [Float], channels: Int, channelOf: (Int) -> Int, keepGrid: Bool = false) {
        var maxAbs = [Float](repeating: 0, count: channels)
        for i in w.indices { let c = channelOf(i); maxAbs[c] = max(maxAbs[c], abs(w[i])) }
        scales = maxAbs.map { $0 > 0 ? $0 / 127 : 1 }
        if keepGrid { scales = Self.sourceGrids(w, maxAbs: maxAbs, channelOf: channelOf) ?? scales }
        var q = [Int8](repeating: 0, count: w.count)
        for i in w.indices {
            let r = (w[i] / scales[channelOf(i)]).rounded(.toNearestOrEven)
            q[i] = Int8(max(keepGrid ? -128 : -127, min(127, r)))
        }
        values = q
    }

    /// Given values on given per-channel scales (`WeightRounding`'s GPTQ rounding).
    package init(values: [Int8], scales: [Float]) {
        self.values = values
        self.scales = scales
    }

    /// Per channel, the scale max|w| / k for the largest k in 127…1 (then 128) that puts
    /// every weight of the channel within 10⁻³ of a step; max|w| / 127 where none does.
    /// nil when no channel lies on a grid other than max|w| / 127.
    static func sourceGrids(_ w: [Float], maxAbs: [Float], channelOf: (Int) -> Int) -> [Float]? {
        var members = [[Int]](repeating: [], count: maxAbs.count)
        for i in w.indices { members[channelOf(i)].append(i) }
        var scales = maxAbs.map { $0 > 0 ? $0 / 127 : 1 }
        var found = false
        for c in maxAbs.indices where maxAbs[c] > 0 {
            for k in Array((1...127).reversed()) + [128] {
                let s = maxAbs[c] / Float(k)
                if members[c].allSatisfy({ let r = w[$0] / s; return abs(r - r.rounded()) <= 1e-3 }) {
                    if k != 127 { scales[c] = s; found = true }
                    break
                }
            }
        }
        return found ? scales : nil
    }

    /// Conv weight [cout, cin/g, kh, kw]: the channel is the first axis.
    package static func conv(_ w: [Float], shape: [Int], keepGrid: Bool = false) -> QuantizedWeights {
        QuantizedWeights(w, channels: shape[0], channelOf: ConvWeightLayout.outputChannel(shape: shape, transposed: false, groups: 1),
                         keepGrid: keepGrid)
    }

    /// Transposed conv weight [cin, cout/g, kh, kw]: output channel = group · (cout/g) + j.
    package static func convTranspose(_ w: [Float], shape: [Int], groups: Int, keepGrid: Bool = false) -> QuantizedWeights {
        QuantizedWeights(w, channels: shape[1] * groups,
                         channelOf: ConvWeightLayout.outputChannel(shape: shape, transposed: true, groups: groups), keepGrid: keepGrid)
    }
}

/// The int32 biases of a conv whose float biases are `b`, on an input grid of scale `sx` and
/// zero point `zp`, in accumulator units s_x·s_w. Every kernel sums bias + Σ(x − zp)·w in
/// int32 (modulo 2^32: exact while the true sum fits), and |x − zp| <= max(zp, 255 − zp), so
/// channel c's bias may be as large as `biasLimit` and no larger.
///
/// A channel with near-zero weights has a tiny s_w, and b / (s_x·s_w) may not fit even so
/// (ERFNet at 512x1024: six channels, one 74x past 2^30; until session 15 every bias was clamped at
/// ±2^30, which lost up to all of it). Such a channel gets the narrowest weight scale on which
/// its bias fits, and its weights are rounded again from `w`: they keep fewer bits, but past
/// the limit they add less than max(zp, 255 − zp)·Σ|q|·s_x·s_w <= |b|·headroom / 2^31
/// (under 1 % of |b| for every cin·k <= 512·9) to the output, where the clamp was wrong by
/// the whole excess.
///
/// A channel whose sums alone may not fit (max(zp, 255 − zp)·Σ|q| >= 2^31 − 1: over ~66 000
/// taps near ±127) would wrap even without a bias: it first gets the narrowest scale on which
/// they take at most half the range (`narrowSums`), then its bias is fitted as above.
extension QuantizedWeights {
    package mutating func fitBiases(_ b: [Float], weights w: [Float], channelOf: (Int) -> Int,
                                    inputScale sx: Float, inputZeroPoint zp: Int) -> [Int32] {
        let deviation = Int64(max(zp, 255 - zp))
        var absSum = [Int64](repeating: 0, count: scales.count)
        for i in values.indices { absSum[channelOf(i)] += Int64(abs(Int(values[i]))) }
        var out = [Int32](repeating: 0, count: scales.count)
        for c in scales.indices {
            if deviation * absSum[c] >= Int64(Int32.max) {
                // The sums alone may not fit (cin·kh·kw past ~66 000 taps near ±127): they
                // would wrap in every kernel. Half the range for them, the rest for the bias.
                absSum[c] = narrowSums(c, weights: w, channelOf: channelOf, budget: (Int64(Int32.max) / 2) / deviation)
            }
            var limit = Self.biasLimit(absSum[c], deviation: deviation)
            if abs(b[c] / (sx * scales[c])).rounded() > Float(limit), b[c].isFinite, limit > 0 {
                // Widen: |b| / (s_x·s') = limit. Σ|q| only shrinks on the wider grid.
                let wide = abs(b[c]) / (sx * Float(limit))
                let sum = reround(members(c, channelOf), weights: w, scale: wide)
                scales[c] = wide
                limit = Self.biasLimit(sum, deviation: deviation)
            }
            out[c] = quantizeBias(b[c], scale: sx * scales[c], limit: limit)
        }
        return out
    }

    /// Re-rounds channel c onto max|w| / k for the largest k in 127…1 whose Σ|q| is at most
    /// `budget` (past k = 1, doublings of max|w|); the new Σ|q|.
    mutating func narrowSums(_ c: Int, weights w: [Float], channelOf: (Int) -> Int, budget: Int64) -> Int64 {
        let members = members(c, channelOf)
        let maxAbs = members.reduce(Float(0)) { max($0, abs(w[$1])) }
        guard maxAbs.isFinite, maxAbs > 0 else { return members.reduce(0) { $0 + Int64(abs(Int(values[$1]))) } }
        // Σ|q| ≈ k·Σ|w| / max|w|: start there, then step down until it fits.
        let l1 = members.reduce(0.0) { $0 + Double(abs(w[$1])) } / Double(maxAbs)
        var k = Int(min(127, max(1, (Double(budget) / l1).rounded(.down))))
        var scale = maxAbs / Float(k)
        while true {
            let sum = reround(members, weights: w, scale: scale)
            if sum <= budget {
                scales[c] = scale
                return sum
            }
            if k > 1 { k -= 1; scale = maxAbs / Float(k) } else { scale *= 2 }
        }
    }

    /// The indices of channel c's weights.
    private func members(_ c: Int, _ channelOf: (Int) -> Int) -> [Int] { values.indices.filter { channelOf($0) == c } }

    /// Rounds the weights at `members` onto `scale` (the symmetric range); their new Σ|q|.
    private mutating func reround(_ members: [Int], weights w: [Float], scale: Float) -> Int64 {
        var sum: Int64 = 0
        for i in members {
            values[i] = Int8(max(-127, min(127, (w[i] / scale).rounded(.toNearestOrEven))))
            sum += Int64(abs(Int(values[i])))
        }
        return sum
    }

    /// int32::max − the largest |Σ(x − zp)·w| of a channel with Σ|q| = `absSum`.
    static func biasLimit(_ absSum: Int64, deviation: Int64) -> Int64 {
        max(0, Int64(Int32.max) - deviation * absSum)
    }
}

/// int32 bias in accumulator units (`scale` = input scale · weight scale), clamped to ±limit
/// (`QuantizedWeights.fitBiases` makes the scale such that it fits, up to float rounding).
func quantizeBias(_ b: Float, scale: Float, limit: Int64) -> Int32 {
    let r = Double((b / scale).rounded(.toNearestOrEven))
    guard r.isFinite else { return 0 }
    return Int32(max(-Double(limit), min(Double(limit), r)))
}
