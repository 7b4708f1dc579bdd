import SegcCore
#if canImport(Glibc)
import Glibc
#endif

/// Pixels sampled for temperature calibration (product.md §3.9): every `pixelStride`-th
/// row and column of a frame, labelled pixels only (train ids 0–18, below the class
/// count), their logits kept in memory. `segc calibrate-temperature` feeds it from its own
/// forward passes; `segc reproduce` from the Cityscapes pass it already runs for mIoU.
public struct TemperatureSamples: Sendable {
    public let classes: Int
    public let pixelStride: Int
    private var z: [Float] = []
    private var y: [Int] = []

    public init(classes: Int, pixelStride: Int = 4) { self.classes = classes; self.pixelStride = max(1, pixelStride) }

    /// Labelled pixels sampled so far.
    public var count: Int { y.count }

    /// Samples one frame: logits `[classes, mask.height, mask.width]`, the mask at that size.
    public mutating func add(logits: [Float], mask: LabelMask) throws(SegcError) {
        let (oh, ow) = (mask.height, mask.width)
        guard logits.count == classes * oh * ow else {
            throw SegcError(.mismatch, "\(logits.count) logits for \(classes) classes at \(oh)x\(ow)")
        }
        for r in stride(from: 0, to: oh, by: pixelStride) {
            for col in stride(from: 0, to: ow, by: pixelStride) {
                let p = r * ow + col
                let label = Int(mask.values[p])
                guard label < 19, label < classes else { continue }
                for k in 0..<classes { z.append(logits[k * oh * ow + p]) }
                y.append(label)
            }
        }
    }

    /// The fit over the samples.
    public var fit: TemperatureFit { TemperatureFit(logits: z, labels: y, classes: classes) }
}

/// Mean NLL of softmax(β·z) and its minimisation over β = 1/T (convex in β).
public struct TemperatureFit: Sendable {
    /// Sampled logits `[n, classes]`, their labels (train ids) and the class count.
    public let logits: [Float]
    public let labels: [Int]
    public let classes: Int

    public init(logits: [Float], labels: [Int], classes: Int) { self.logits = logits; self.labels = labels; self.classes = classes }

    /// (f, f', f'') at β, in Double: f = mean(logsumexp(βz) − β·z_y),
    /// f' = mean(E_p[z] − z_y), f'' = mean(Var_p[z]) with p = softmax(βz).
    public func derivatives(beta: Double) -> (Double, Double, Double) {
        var f = 0.0, g = 0.0, hsum = 0.0
        let n = labels.count
        logits.withUnsafeBufferPointer { z in
            for i in 0..<n {
                let row = i * classes
                var m = -Double.infinity
                for k in 0..<classes { m = max(m, beta * Double(z[row + k])) }
                var s = 0.0, ez = 0.0, ez2 = 0.0
                for k in 0..<classes {
                    let v = Double(z[row + k])
                    let e = calibrationExp(beta * v - m)
                    s += e; ez += e * v; ez2 += e * v * v
                }
                let mean = ez / s
                let zy = Double(z[row + labels[i]])
                f += m + calibrationLog(s) - beta * zy
                g += mean - zy
                hsum += ez2 / s - mean * mean
            }
        }
        return (f / Double(n), g / Double(n), hsum / Double(n))
    }

    /// Mean NLL at β = 1/T.
    public func nll(beta: Double) -> Double { derivatives(beta: beta).0 }

    /// Safeguarded Newton on β: a Newton step, halved until the NLL does not increase,
    /// β kept positive; stops when T = 1/β changes by less than 1e-4.
    public func solve() -> Double {
        var beta = 1.0
        var (f, g, h) = derivatives(beta: beta)
        for _ in 0..<100 {
            var step = h > 1e-12 ? -g / h : -g
            var next = beta + step
            var fn = next > 0 ? nll(beta: next) : .infinity
            var tries = 0
            while (next <= 0 || fn > f) && tries < 40 {
                step /= 2; next = beta + step
                fn = next > 0 ? nll(beta: next) : .infinity
                tries += 1
            }
            if next <= 0 || fn > f { break }
            let done = abs(1 / next - 1 / beta) < 1e-4
            beta = next
            (f, g, h) = derivatives(beta: beta)
            if done { break }
        }
        return 1 / beta
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func calibrationExp(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) func calibrationLog(_ x: Double) -> Double { Glibc.log(x) }
#endif
