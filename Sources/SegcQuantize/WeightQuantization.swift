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

/// int32 bias in accumulator units (`scale` = input scale · weight scale), clamped so the
/// kernels' int32 sums keep head room.
func quantizeBias(_ b: Float, scale: Float) -> Int32 {
    let r = (b / scale).rounded(.toNearestOrEven)
    return Int32(max(-1_073_741_824, min(1_073_741_824, r)))
}
