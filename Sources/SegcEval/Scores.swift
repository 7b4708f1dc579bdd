import CSegcKernels
import SegcCore

/// A per-pixel anomaly score (product.md §3.3); higher means more anomalous.
public enum AnomalyScore: Sendable, Equatable, CustomStringConvertible {
    /// 1 − maxᶜ softmax(z / T)ᶜ.
    case msp(temperature: Float)
    /// − maxᶜ zᶜ.
    case maxLogit
    /// − Σᶜ pᶜ ln(pᶜ + 1e-10), p = softmax(z), float32 (no division by ln C).
    case maxEntropy
    /// softmax(z)_{C−1}: the probability of the last (void) class.
    case void

    /// Parses a CLI name (`msp`, `maxlogit`, `maxentropy`, `void`); `temperature` is used by `msp`.
    public init?(name: String, temperature: Float = 1) {
        switch name.lowercased() {
        case "msp": self = .msp(temperature: temperature)
        case "maxlogit": self = .maxLogit
        case "maxentropy": self = .maxEntropy
        case "void": self = .void
        default: return nil
        }
    }

    /// The CLI name.
    public var name: String {
        switch self {
        case .msp: return "msp"
        case .maxLogit: return "maxlogit"
        case .maxEntropy: return "maxentropy"
        case .void: return "void"
        }
    }

    public var description: String {
        if case .msp(let t) = self { return "msp(T=\(t))" }
        return name
    }
}

/// Scores and argmax computed from logits in one fused pass.
public enum Scores {
    /// Computes the score map (`score` non-nil) and/or the argmax (`argmax: true`; the first
    /// maximum wins) from planar logits `[classes, pixels]` (batch 1, C order).
    /// - Returns: `scores` (empty when `score` is nil) and `argmax` (empty unless requested).
    /// - Throws: `.mismatch` when the logit count is not `classes * pixels`; `.usage` for a
    ///   non-positive MSP temperature or `void` with fewer than 2 classes.
    public static func compute(_ score: AnomalyScore?, logits: UnsafeBufferPointer<Float>, classes: Int, pixels: Int,
                               argmax: Bool = false) throws(SegcError) -> (scores: [Float], argmax: [Int32]) {
        guard classes >= 1, pixels >= 0, logits.count == classes * pixels else {
            throw SegcError(.mismatch, "\(logits.count) logits for \(classes) classes x \(pixels) pixels")
        }
        guard let base = logits.baseAddress, pixels > 0 else {
            return ([], [])
        }
        var kind: Int32 = 4
        var temperature: Float = 1
        switch score {
        case .msp(let t)?:
            guard t > 0, t.isFinite else { throw SegcError(.usage, "temperature must be a positive number (got \(t))") }
            kind = 0; temperature = t
        case .maxLogit?: kind = 1
        case .maxEntropy?: kind = 2
        case .void?:
            guard classes >= 2 else { throw SegcError(.usage, "the void score needs at least 2 classes") }
            kind = 3
        case nil: kind = 4
        }
        var out = [Float](repeating: 0, count: score == nil ? 0 : pixels)
        var am = [Int32](repeating: 0, count: argmax ? pixels : 0)
        let rc = out.withUnsafeMutableBufferPointer { o in
            am.withUnsafeMutableBufferPointer { a in
                // Empty arrays may still have a base address: pass NULL for outputs not requested.
                segc_scores(base, Int64(classes), Int64(pixels), kind, temperature,
                            score == nil ? nil : o.baseAddress, argmax ? a.baseAddress : nil)
            }
        }
        if rc != 0 { throw SegcError(.usage, "invalid score arguments") }
        return (out, am)
    }

    /// Convenience over an array of logits `[classes, pixels]`.
    public static func compute(_ score: AnomalyScore?, logits: [Float], classes: Int, pixels: Int,
                               argmax: Bool = false) throws(SegcError) -> (scores: [Float], argmax: [Int32]) {
        try logits.withUnsafeBufferPointer { (p) throws(SegcError) in
            try compute(score, logits: p, classes: classes, pixels: pixels, argmax: argmax)
        }
    }
}
