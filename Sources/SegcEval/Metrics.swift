import SegcCore

/// Pools (score, label) pairs over frames and computes AuPRC and FPR95 exactly as
/// scikit-learn 1.9 `average_precision_score` and `ood_metrics.fpr_at_95_tpr` do
/// (product.md §3.8), bit for bit.
///
/// Labels: 1 = anomaly (positive), 0 = inlier (negative), any other value is ignored.
/// Memory grows with the number of pooled (non-ignored) pixels: one score each, in the
/// scores' own precision (float32 unless a float64 frame was added).
public struct AnomalyAccumulator: Sendable {
    private var posF: [Float] = []
    private var negF: [Float] = []
    private var posD: [Double] = []
    private var negD: [Double] = []
    private var isDouble = false
    /// Pixels whose label was neither 0 nor 1.
    public private(set) var ignored = 0

    /// An empty pool.
    public init() {}

    /// Number of positive (label 1) pixels pooled.
    public var positives: Int { isDouble ? posD.count : posF.count }
    /// Number of negative (label 0) pixels pooled.
    public var negatives: Int { isDouble ? negD.count : negF.count }

    /// Adds one frame of float32 scores and labels (same length).
    /// - Throws: `.mismatch` on a length mismatch, `.malformed` on a NaN or infinite score
    ///   of a non-ignored pixel (scikit-learn refuses those).
    public mutating func add(scores: [Float], labels: [UInt8]) throws(SegcError) {
        guard scores.count == labels.count else {
            throw SegcError(.mismatch, "\(scores.count) scores for \(labels.count) labels")
        }
        for i in 0..<scores.count {
            let l = labels[i]
            if l > 1 { ignored += 1; continue }
            let s = scores[i]
            guard s.isFinite else { throw SegcError(.malformed, "score \(s) at pixel \(i) is not finite") }
            if isDouble {
                if l == 1 { posD.append(Double(s)) } else { negD.append(Double(s)) }
            } else {
                if l == 1 { posF.append(s) } else { negF.append(s) }
            }
        }
    }

    /// Adds one frame of float32 scores whose labels were grouped by ``LabelSplit`` — the
    /// same pool as `add(scores:labels:)` (same values in the same order), without
    /// re-reading the labels for every score of the frame.
    /// - Throws: as `add(scores:labels:)`.
    public mutating func add(scores: [Float], split: LabelSplit) throws(SegcError) {
        guard scores.count == split.count else {
            throw SegcError(.mismatch, "\(scores.count) scores for \(split.count) labels")
        }
        if let bad = split.firstNonFinite(scores) {
            throw SegcError(.malformed, "score \(scores[bad]) at pixel \(bad) is not finite")
        }
        ignored += split.ignored
        if isDouble {
            for i in split.positives { posD.append(Double(scores[Int(i)])) }
            for i in split.negatives { negD.append(Double(scores[Int(i)])) }
            return
        }
        scores.withUnsafeBufferPointer { sc in
            posF.reserveCapacity(posF.count + split.positives.count)
            for i in split.positives { posF.append(sc[Int(i)]) }
            negF.reserveCapacity(negF.count + split.negatives.count)
            for i in split.negatives { negF.append(sc[Int(i)]) }
        }
    }

    /// Adds one frame of float64 scores with integer labels (1 positive, 0 negative, other
    /// values ignored). Switches the pool to float64.
    public mutating func add(scores: [Double], labels: [Int64]) throws(SegcError) {
        guard scores.count == labels.count else {
            throw SegcError(.mismatch, "\(scores.count) scores for \(labels.count) labels")
        }
        promote()
        for i in 0..<scores.count {
            let l = labels[i]
            if l != 0 && l != 1 { ignored += 1; continue }
            let s = scores[i]
            guard s.isFinite else { throw SegcError(.malformed, "score \(s) at pixel \(i) is not finite") }
            if l == 1 { posD.append(s) } else { negD.append(s) }
        }
    }

    private mutating func promote() {
        if isDouble { return }
        posD = posF.map(Double.init)
        negD = negF.map(Double.init)
        posF = []
        negF = []
        isDouble = true
    }

    /// The distinct scores in decreasing order with cumulative counts: `tps[k]` / `fps[k]`
    /// = positives / negatives with score ≥ the k-th distinct value (exact, as float64).
    public func curve() throws(SegcError) -> (tps: [Double], fps: [Double]) {
        guard positives > 0 else { throw SegcError(.mismatch, "no positive (anomaly) pixel in the pool") }
        guard negatives > 0 else { throw SegcError(.mismatch, "no negative (inlier) pixel in the pool") }
        if isDouble {
            return AnomalyAccumulator.merge(posD.sorted(by: >), negD.sorted(by: >))
        }
        return AnomalyAccumulator.merge(RadixSort.descending(posF), RadixSort.descending(negF))
    }

    static func merge<T: BinaryFloatingPoint>(_ pos: [T], _ neg: [T]) -> (tps: [Double], fps: [Double]) {
        var tps: [Double] = []
        var fps: [Double] = []
        var i = 0, j = 0, tp = 0, fp = 0
        while i < pos.count || j < neg.count {
            let v: T
            if i < pos.count && j < neg.count { v = Swift.max(pos[i], neg[j]) } else if i < pos.count { v = pos[i] } else { v = neg[j] }
            while i < pos.count && pos[i] == v { tp += 1; i += 1 }
            while j < neg.count && neg[j] == v { fp += 1; j += 1 }
            tps.append(Double(tp))
            fps.append(Double(fp))
        }
        return (tps, fps)
    }

    /// AuPRC = scikit-learn `average_precision_score(labels, scores)`.
    public func auprc() throws(SegcError) -> Double {
        let (tps, fps) = try curve()
        return AnomalyAccumulator.averagePrecision(tps: tps, fps: fps)
    }

    /// FPR at 95 % TPR = `ood_metrics.fpr_at_95_tpr(scores, labels)`.
    public func fpr95() throws(SegcError) -> Double {
        let (tps, fps) = try curve()
        return AnomalyAccumulator.fprAt95(tps: tps, fps: fps)
    }

    /// Both metrics from one sort.
    public func metrics() throws(SegcError) -> (auprc: Double, fpr95: Double) {
        let (tps, fps) = try curve()
        return (AnomalyAccumulator.averagePrecision(tps: tps, fps: fps), AnomalyAccumulator.fprAt95(tps: tps, fps: fps))
    }

    static func averagePrecision(tps: [Double], fps: [Double]) -> Double {
        let m = tps.count
        guard let p = tps.last else { return 0 }
        var a = [Double](repeating: 0, count: m)
        for i in 0..<m {
            let k = m - 1 - i
            let rk = tps[k] / p
            let rPrev = k > 0 ? tps[k - 1] / p : 0
            let pk = tps[k] / (tps[k] + fps[k])
            a[i] = (rPrev - rk) * pk
        }
        let s = NumpySum.sum(a)
        return Swift.max(0, -s)
    }

    static func fprAt95(tps: [Double], fps: [Double]) -> Double {
        let m = tps.count
        var keep: [Int] = []
        if m > 2 {
            keep.reserveCapacity(m)
            keep.append(0)
            for k in 1..<(m - 1) {
                let same = (fps[k + 1] - fps[k] == fps[k] - fps[k - 1]) && (tps[k + 1] - tps[k] == tps[k] - tps[k - 1])
                if !same { keep.append(k) }
            }
            keep.append(m - 1)
        } else {
            keep = Array(0..<m)
        }
        guard let pTotal = tps.last, let nTotal = fps.last else { return .nan }
        var tpr: [Double] = [0]
        var fpr: [Double] = [0]
        for k in keep {
            tpr.append(tps[k] / pTotal)
            fpr.append(fps[k] / nTotal)
        }
        // numpy.interp(0.95, tpr, fpr) for a non-decreasing tpr that starts at 0 and ends at 1.
        let x = 0.95
        var j = 0
        for (idx, t) in tpr.enumerated() where t <= x { j = idx }
        if tpr[j] == x { return fpr[j] }
        if j + 1 >= tpr.count { return fpr[tpr.count - 1] }
        let slope = (fpr[j + 1] - fpr[j]) / (tpr[j + 1] - tpr[j])
        return slope * (x - tpr[j]) + fpr[j]
    }
}

/// numpy's `np.sum` of a contiguous float64 array: blocks of 8192 elements, each reduced
/// with numpy's pairwise summation, accumulated left to right.
enum NumpySum {
    static func sum(_ a: [Double]) -> Double {
        a.withUnsafeBufferPointer { p -> Double in
            guard let base = p.baseAddress else { return 0 }
            var s = 0.0
            var start = 0
            while start < p.count {
                let n = Swift.min(8192, p.count - start)
                s = s + pairwise(base + start, n)
                start += n
            }
            return s
        }
    }

    static func pairwise(_ a: UnsafePointer<Double>, _ n: Int) -> Double {
        if n < 8 {
            var res = 0.0
            for i in 0..<n { res = res + a[i] }
            // numpy starts with -0.0 in newer versions? It starts from 0. and adds: keep the
            // plain left-to-right order.
            return res
        } else if n <= 128 {
            var r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]
            var i = 8
            while i < n - (n % 8) {
                r[0] += a[i]; r[1] += a[i + 1]; r[2] += a[i + 2]; r[3] += a[i + 3]
                r[4] += a[i + 4]; r[5] += a[i + 5]; r[6] += a[i + 6]; r[7] += a[i + 7]
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n { res += a[i]; i += 1 }
            return res
        } else {
            var n2 = n / 2
            n2 -= n2 % 8
            return pairwise(a, n2) + pairwise(a + n2, n - n2)
        }
    }
}

/// LSD radix sort of float32 keys (order-preserving bit transform, 3 passes of 11 bits),
/// returning the values in decreasing order. −0.0 is normalised to +0.0 (they are equal).
enum RadixSort {
    static func descending(_ values: [Float]) -> [Float] {
        let n = values.count
        if n < 2 { return values }
        var keys = [UInt32](repeating: 0, count: n)
        var tmp = [UInt32](repeating: 0, count: n)
        for i in 0..<n {
            let v = values[i] == 0 ? Float(0) : values[i]
            let b = v.bitPattern
            // Ascending-order key, then inverted for descending order.
            let asc = (b & 0x8000_0000) != 0 ? ~b : (b | 0x8000_0000)
            keys[i] = ~asc
        }
        keys.withUnsafeMutableBufferPointer { k in
            tmp.withUnsafeMutableBufferPointer { t in
                var src = k.baseAddress!
                var dst = t.baseAddress!
                var count = [Int](repeating: 0, count: 2048)
                for shift in stride(from: 0, to: 33, by: 11) {
                    for i in 0..<2048 { count[i] = 0 }
                    for i in 0..<n { count[Int((src[i] >> UInt32(shift)) & 0x7FF)] += 1 }
                    var total = 0
                    for i in 0..<2048 { let c = count[i]; count[i] = total; total += c }
                    for i in 0..<n {
                        let key = src[i]
                        let d = Int((key >> UInt32(shift)) & 0x7FF)
                        dst[count[d]] = key
                        count[d] += 1
                    }
                    swap(&src, &dst)
                }
                // 3 passes: the sorted keys are in `t` (odd number of swaps).
            }
        }
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let asc = ~tmp[i]
            let b = (asc & 0x8000_0000) != 0 ? (asc & 0x7FFF_FFFF) : ~asc
            out[i] = Float(bitPattern: b)
        }
        return out
    }
}

/// Per-class IoU exactly as the reference code's `iouEval(nClasses, ignoreIndex)`
/// (product.md §3.8): int64 TP/FP/FN per class; ground truth equal to the ignore index
/// counts for no class; IoU = TP / (((TP + FP) + FN) + 1e-15) in float64.
public struct IoUAccumulator: Sendable {
    /// Number of classes (`iouEval`'s nClasses; 20 for the paper's models).
    public let classes: Int
    /// The ignored class (19), or nil when `ignoreIndex >= classes` (`iouEval` uses −1 then).
    public let ignoreIndex: Int?
    /// Per-class true positives, false positives, false negatives.
    public private(set) var tp: [Int64]
    public private(set) var fp: [Int64]
    public private(set) var fn: [Int64]
    /// Pixels whose (mapped) ground truth was the ignore index.
    public private(set) var ignoredPixels: Int64 = 0

    /// - Parameters: classes: nClasses (≥ 1); ignoreIndex: the ignored class (default 19).
    public init(classes: Int = 20, ignoreIndex: Int = 19) throws(SegcError) {
        guard classes >= 1, classes <= 256 else { throw SegcError(.usage, "class count \(classes) must be 1...256") }
        self.classes = classes
        self.ignoreIndex = (ignoreIndex >= 0 && ignoreIndex < classes) ? ignoreIndex : nil
        tp = Array(repeating: 0, count: classes)
        fp = Array(repeating: 0, count: classes)
        fn = Array(repeating: 0, count: classes)
    }

    /// The classes the IoU is reported for: all k < ignoreIndex, or all classes.
    public var evaluatedClasses: Int { ignoreIndex ?? classes }

    /// Adds one frame. Labels equal to 255 are first mapped to the ignore index (the
    /// reference loader's `Relabel(255, 19)`); without one (fewer than 20 classes) they
    /// are ignored.
    /// - Throws: `.mismatch` on length mismatch; `.malformed` for a prediction or label ≥ classes.
    public mutating func add(predictions: [Int32], labels: [UInt8]) throws(SegcError) {
        guard predictions.count == labels.count else {
            throw SegcError(.mismatch, "\(predictions.count) predictions for \(labels.count) labels")
        }
        let ig = ignoreIndex ?? -1
        let n = evaluatedClasses
        for i in 0..<labels.count {
            var l = Int(labels[i])
            let p = Int(predictions[i])
            guard p >= 0, p < classes else { throw SegcError(.malformed, "prediction \(p) at pixel \(i) is not in 0..<\(classes)") }
            if l == 255 {
                // Cityscapes' ignore label: the void class of a 20-class net, else not counted
                // (a 19-class net such as BiSeNetV1 has no void class to map it to).
                guard let ignoreIndex else { ignoredPixels += 1; continue }
                l = ignoreIndex
            }
            guard l < classes else { throw SegcError(.malformed, "label \(l) at pixel \(i) is not below \(classes)") }
            if l == ig { ignoredPixels += 1; continue }
            if p == l {
                if p < n { tp[p] += 1 }
            } else {
                if p < n { fp[p] += 1 }
                if l < n { fn[l] += 1 }
            }
        }
    }

    /// Per-class IoU for k < `evaluatedClasses` and their mean (float64 sum / count).
    public func iou() -> (mean: Double, perClass: [Double]) {
        let n = evaluatedClasses
        var per: [Double] = []
        var sum = 0.0
        for k in 0..<n {
            let d = ((Double(tp[k]) + Double(fp[k])) + Double(fn[k])) + 1e-15
            let v = Double(tp[k]) / d
            per.append(v)
            sum += v
        }
        return (n > 0 ? sum / Double(n) : 0, per)
    }
}

/// One frame's label pixels grouped once — positive (1) and negative (0) pixel indices in
/// pixel order, and the ignored count — so several scores of the frame can be pooled
/// without each re-reading the labels (``AnomalyAccumulator/add(scores:split:)``).
public struct LabelSplit: Sendable {
    public let positives: [Int32]
    public let negatives: [Int32]
    public let ignored: Int
    /// Pixels in the frame.
    public let count: Int

    public init(labels: [UInt8]) {
        var pos: [Int32] = [], neg: [Int32] = []
        var ign = 0
        neg.reserveCapacity(labels.count)
        labels.withUnsafeBufferPointer { l in
            for i in 0..<l.count {
                switch l[i] {
                case 0: neg.append(Int32(i))
                case 1: pos.append(Int32(i))
                default: ign += 1
                }
            }
        }
        positives = pos; negatives = neg; ignored = ign; count = labels.count
    }

    /// The first non-ignored pixel whose score is NaN or infinite (scikit-learn refuses those).
    func firstNonFinite(_ scores: [Float]) -> Int? {
        var first: Int?
        scores.withUnsafeBufferPointer { sc in
            for i in positives where !sc[Int(i)].isFinite { first = min(first ?? Int.max, Int(i)); break }
            for i in negatives where !sc[Int(i)].isFinite { first = min(first ?? Int.max, Int(i)); break }
        }
        return first
    }
}
