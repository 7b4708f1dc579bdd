import SegcCore

/// GPTQ weight rounding (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for
/// Generative Pre-trained Transformers", Algorithm 1, without the lazy batching: segc's rows
/// are at most a few thousand wide).
///
/// A layer computes y = W·x; rounding each weight to its nearest grid point minimises
/// |W − Ŵ| element by element, but what matters is the output error ‖(W − Ŵ)·X‖² over the
/// layer's real inputs X, i.e. (W − Ŵ)·H·(W − Ŵ)ᵀ with H = X·Xᵀ. GPTQ (the OBQ update)
/// rounds the columns in order and, after each, moves the not-yet-rounded columns of the
/// same row to compensate for that column's rounding error given how the inputs correlate:
/// with U the upper Cholesky factor of H⁻¹,
///
///     e = (w[:, i] − ŵ[:, i]) / U[i, i],   w[:, j] −= e · U[i, j]   for j > i.
///
/// Correlated inputs (neighbouring taps of a conv, channels that move together) let the
/// error cancel; nearest rounding leaves it to add up. The grid is fixed beforehand (the
/// caller's per-row scales, max|w| / 127 as for nearest rounding), values are clamped to
/// [−127, 127].
package enum GPTQ {
    /// Dampening added to H's diagonal, relative to its mean (the paper's 1 %): keeps H
    /// invertible when inputs are collinear or a channel is always zero.
    package static let damping = 0.01

    /// int8 values of `w` (`rows` × `columns`, row-major) on the grid `scales[row]`.
    /// - Parameter hessian: H = Σ x·xᵀ over the layer's inputs (`columns` × `columns`,
    ///   row-major); its scale does not matter.
    /// - Returns: nil when H (dampened) is not positive definite even with 100× the
    ///   dampening (the caller then rounds to nearest).
    package static func round(_ w: [Float], rows: Int, columns n: Int, scales: [Float],
                              hessian: [Double]) -> [Int8]? {
        precondition(w.count == rows * n && scales.count == rows && hessian.count == n * n)
        var h = hessian
        // A column whose input was always 0 has no say in the output: a unit diagonal keeps
        // H invertible and the update then leaves the other columns alone.
        for i in 0..<n where h[i * n + i] <= 0 { h[i * n + i] = 1 }
        let meanDiag = (0..<n).reduce(0.0) { $0 + h[$1 * n + $1] } / Double(max(n, 1))
        var u: [Double]? = nil
        for factor in [1.0, 10, 100] where u == nil {
            var d = h
            for i in 0..<n { d[i * n + i] += factor * damping * meanDiag }
            u = Cholesky.upperOfInverse(d, n: n)
        }
        guard let u else { return nil }
        var q = [Int8](repeating: 0, count: w.count)
        var row = [Double](repeating: 0, count: n)
        for r in 0..<rows {
            let s = Double(scales[r])
            for j in 0..<n { row[j] = Double(w[r * n + j]) }
            for i in 0..<n {
                let v = max(-127, min(127, (row[i] / s).rounded(.toNearestOrEven)))
                q[r * n + i] = Int8(v)
                let e = (row[i] - v * s) / u[i * n + i]
                if e == 0 { continue }
                for j in (i + 1)..<n { row[j] -= e * u[i * n + j] }
            }
        }
        return q
    }
}
