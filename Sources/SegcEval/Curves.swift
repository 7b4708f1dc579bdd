import SegcCore

/// Precision–recall and ROC curves of one pooled score, thinned for plotting.
///
/// The full curves have one point per distinct score (millions for float32 maps); a plot
/// needs a few hundred. Points are kept when they move by at least 1/`points` of the axis
/// range along the curve, plus both ends, so the drawn polyline stays within about one
/// plot pixel of the exact curve. The metrics themselves are always computed from the
/// full curve (``AnomalyAccumulator/metrics()``).
public struct ScoreCurve: Sendable, Equatable {
    /// (recall, precision) pairs, recall increasing (threshold decreasing).
    public var pr: [(recall: Double, precision: Double)]
    /// (false-positive rate, true-positive rate) pairs, both non-decreasing, from (0, 0).
    public var roc: [(fpr: Double, tpr: Double)]
    /// The FPR95 point: (FPR at 95 % TPR, 0.95).
    public var fpr95: Double
    /// The AuPRC the curve belongs to.
    public var auprc: Double
    /// Fraction of positives (the PR baseline of a random score).
    public var positiveRate: Double

    public init(pr: [(recall: Double, precision: Double)], roc: [(fpr: Double, tpr: Double)], fpr95: Double, auprc: Double,
                positiveRate: Double) {
        self.pr = pr; self.roc = roc; self.fpr95 = fpr95; self.auprc = auprc; self.positiveRate = positiveRate
    }

    public static func == (a: ScoreCurve, b: ScoreCurve) -> Bool {
        a.pr.elementsEqual(b.pr, by: { $0 == $1 }) && a.roc.elementsEqual(b.roc, by: { $0 == $1 })
            && a.fpr95 == b.fpr95 && a.auprc == b.auprc && a.positiveRate == b.positiveRate
    }

    /// Thins the cumulative counts of ``AnomalyAccumulator/curve()``.
    static func make(tps: [Double], fps: [Double], auprc: Double, fpr95: Double, points: Int) -> ScoreCurve {
        let p = tps.last ?? 1, n = fps.last ?? 1
        let step = 1 / Double(max(points, 2))
        var pr: [(recall: Double, precision: Double)] = []
        var roc: [(fpr: Double, tpr: Double)] = [(0, 0)]
        var lastPR = (-1.0, -1.0), lastROC = (0.0, 0.0)
        let m = tps.count
        for k in 0..<m {
            let recall = tps[k] / p, precision = tps[k] / (tps[k] + fps[k])
            let fpr = fps[k] / n
            let end = k == 0 || k == m - 1
            if end || abs(recall - lastPR.0) >= step || abs(precision - lastPR.1) >= step {
                pr.append((recall, precision)); lastPR = (recall, precision)
            }
            if end || abs(fpr - lastROC.0) >= step || abs(recall - lastROC.1) >= step {
                roc.append((fpr, recall)); lastROC = (fpr, recall)
            }
        }
        return ScoreCurve(pr: pr, roc: roc, fpr95: fpr95, auprc: auprc, positiveRate: p / (p + n))
    }
}

extension AnomalyAccumulator {
    /// AuPRC, FPR95 and, when `curvePoints > 0`, the thinned curves — from one sort.
    /// The metrics are bit-identical to ``metrics()``.
    public func metricsAndCurve(curvePoints: Int) throws(SegcError) -> (auprc: Double, fpr95: Double, curve: ScoreCurve?) {
        let (tps, fps) = try curve()
        let a = AnomalyAccumulator.averagePrecision(tps: tps, fps: fps)
        let f = AnomalyAccumulator.fprAt95(tps: tps, fps: fps)
        let c = curvePoints > 0 ? ScoreCurve.make(tps: tps, fps: fps, auprc: a, fpr95: f, points: curvePoints) : nil
        return (a, f, c)
    }
}
