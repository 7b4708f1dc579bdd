import SegcPlan

extension PlanMetadata {
    /// Applies the plan's mean/std to an image input already scaled to [0, 1] (CHW,
    /// one plane per entry of `mean`): `(x − mean[c]) / std[c]`. A no-op for the
    /// defaults (all 0 / all 1).
    func normalise(_ x: inout [Float]) {
        let c = mean.count
        guard c > 0, std.count == c, x.count % c == 0,
              mean.contains(where: { $0 != 0 }) || std.contains(where: { $0 != 1 }) else { return }
        let plane = x.count / c
        for k in 0..<c {
            let m = Float(mean[k]), s = Float(std[k])
            for i in (k * plane)..<((k + 1) * plane) { x[i] = (x[i] - m) / s }
        }
    }

    /// Input channels of the plan (`input.shape[1]`; 3 for the paper's networks).
    var inputChannels: Int { inputShape.count == 4 ? inputShape[1] : 3 }
}
