/// Symmetric per-output-channel int8 weights (product.md §3.5): channel `co`'s scale is
/// max|w| / 127 and its values round to [−127, 127] (−128 is never used, so negating a
/// weight never overflows).
package struct QuantizedWeights {
    package var values: [Int8]
    package var scales: [Float]

    /// `w` in the plan's layout; `channelOf(i)` gives the output channel of element i.
    package init(_ w: [Float], channels: Int, channelOf: (Int) -> Int) {
        var maxAbs = [Float](repeating: 0, count: channels)
        for i in w.indices { let c = channelOf(i); maxAbs[c] = max(maxAbs[c], abs(w[i])) }
        scales = maxAbs.map { $0 > 0 ? $0 / 127 : 1 }
        var q = [Int8](repeating: 0, count: w.count)
        for i in w.indices {
            let r = (w[i] / scales[channelOf(i)]).rounded(.toNearestOrEven)
            q[i] = Int8(max(-127, min(127, r)))
        }
        values = q
    }

    /// Conv weight [cout, cin/g, kh, kw]: the channel is the first axis.
    package static func conv(_ w: [Float], shape: [Int]) -> QuantizedWeights {
        let per = shape[1] * shape[2] * shape[3]
        return QuantizedWeights(w, channels: shape[0], channelOf: { $0 / per })
    }

    /// Transposed conv weight [cin, cout/g, kh, kw]: output channel = group · (cout/g) + j.
    package static func convTranspose(_ w: [Float], shape: [Int], groups: Int) -> QuantizedWeights {
        let cin = shape[0], coutG = shape[1], k = shape[2] * shape[3]
        let cinG = cin / groups
        return QuantizedWeights(w, channels: coutG * groups, channelOf: { i in
            let ci = i / (coutG * k), j = (i / k) % coutG
            return (ci / cinG) * coutG + j
        })
    }
}

/// int32 bias in accumulator units (`scale` = input scale · weight scale), clamped so the
/// kernels' int32 sums keep head room.
func quantizeBias(_ b: Float, scale: Float) -> Int32 {
    let r = (b / scale).rounded(.toNearestOrEven)
    return Int32(max(-1_073_741_824, min(1_073_741_824, r)))
}
