/// Dense symmetric positive definite matrices (row-major `[Double]`, n × n): the least
/// squares of `prune`'s recovery (`solve`) and GPTQ's weight updates in `quantize` (the upper
/// Cholesky factor of H⁻¹). The matrices are at most a few thousand wide (a conv's
/// cin/groups · kh · kw), so plain O(n³) loops in double suffice.
package enum Cholesky {
    /// Lower triangular L with L·Lᵀ = a; nil when `a` is not (numerically) positive definite.
    package static func lower(_ a: [Double], n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0, s.isFinite else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        return l
    }

    /// x with L·Lᵀ·x = b, L from `lower`: forward, then backward substitution.
    package static func solve(lower l: [Double], n: Int, _ b: [Double]) -> [Double] {
        var y = b
        for i in 0..<n { var s = y[i]; for k in 0..<i { s -= l[i * n + k] * y[k] }; y[i] = s / l[i * n + i] }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = y[i]; for k in (i + 1)..<n { s -= l[k * n + i] * y[k] }; y[i] = s / l[i * n + i]
        }
        return y
    }

    /// a⁻¹ from its lower Cholesky factor: L⁻¹ by forward substitution, then L⁻ᵀ·L⁻¹.
    /// L⁻¹ is kept transposed (t[j·n + k] = L⁻¹[k][j]) so every inner loop walks rows: walking
    /// columns of 4608-wide matrices (BiSeNetV1's 3x3 convs over 512 channels) missed the
    /// cache on every step and took minutes per conv.
    package static func inverse(lower l: [Double], n: Int) -> [Double] {
        var t = [Double](repeating: 0, count: n * n)   // (L⁻¹)ᵀ, upper triangular
        for i in 0..<n {
            t[i * n + i] = 1 / l[i * n + i]
            for j in 0..<i {
                var s = 0.0
                for k in j..<i { s -= l[i * n + k] * t[j * n + k] }
                t[j * n + i] = s / l[i * n + i]
            }
        }
        var inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = 0.0
                for k in i..<n { s += t[i * n + k] * t[j * n + k] }
                inv[i * n + j] = s
                inv[j * n + i] = s
            }
        }
        return inv
    }

    /// Upper triangular U with Uᵀ·U = a⁻¹ (GPTQ's `cholesky(H⁻¹, upper=True)`); nil when `a`
    /// or its inverse is not positive definite.
    package static func upperOfInverse(_ a: [Double], n: Int) -> [Double]? {
        guard let l = lower(a, n: n), let l2 = lower(inverse(lower: l, n: n), n: n) else { return nil }
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in i..<n { u[i * n + j] = l2[j * n + i] } }
        return u
    }
}
