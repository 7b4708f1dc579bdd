import SegcPlan

extension PlanMetadata {
    /// Applies the plan's mean/std to an image input already scaled to [0, 1] (CHW,
    /// three planes): `(x − mean[c]) / std[c]`. A no-op for the paper's 0/1 defaults.
    func normalise(_ x: inout [Float]) {
        guard mean != [0, 0, 0] || std != [1, 1, 1], mean.count == 3, std.count == 3 else { return }
        let plane = x.count / 3
        for c in 0..<3 {
            let m = Float(mean[c]), s = Float(std[c])
            for i in (c * plane)..<((c + 1) * plane) { x[i] = (x[i] - m) / s }
        }
    }
}
