extension BatchNorm {
    /// The inference-mode BatchNorm as a per-channel affine `y = x·α + β`:
    /// α = γ / √(var + ε), β = bias − mean·α, computed in Double and rounded once.
    /// Shared by the optimiser (`batchnorm-to-affine`) and lowering (unfolded BNs).
    package func affine(gamma: [Float], beta: [Float], mean: [Float], variance: [Float]) -> (scale: [Float], shift: [Float]) {
        var alpha = [Float](repeating: 0, count: gamma.count)
        var shift = [Float](repeating: 0, count: gamma.count)
        for c in gamma.indices {
            let a = Double(gamma[c]) / (Double(variance[c]) + Double(epsilon)).squareRoot()
            alpha[c] = Float(a)
            shift[c] = Float(Double(beta[c]) - Double(mean[c]) * a)
        }
        return (alpha, shift)
    }
}
