#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore

/// Where an evaluation spent its time, in milliseconds.
public struct EvaluationTiming: Sendable, Equatable {
    /// Image and label decoding.
    public var decode = 0.0
    /// Pillow resizing, RGB conversion and float conversion.
    public var resize = 0.0
    /// The network closure.
    public var network = 0.0
    /// Scores / argmax (and heatmap writing).
    public var score = 0.0
    /// Accumulating and computing metrics.
    public var metrics = 0.0
    /// Wall time of the whole evaluation.
    public var total = 0.0
    /// Everything but the network, as a fraction of `total`.
    public var outsideNetworkFraction: Double { total > 0 ? (total - network) / total : 0 }
}

/// The result of `evaluate` (product.md §3.7 output fields).
public struct EvaluationResult: Sendable {
    /// Dataset kind.
    public var kind: DatasetKind
    /// The score used (nil for Cityscapes).
    public var score: AnomalyScore?
    /// Frames found / used / skipped (no anomaly pixel after resize and mapping).
    public var frames = 0
    public var framesUsed = 0
    public var framesSkipped = 0
    /// Pooled pixel counts (anomaly sets): positives, negatives, ignored.
    public var anomalyPixels = 0
    public var inlierPixels = 0
    public var ignoredPixels = 0
    /// AuPRC and FPR95 as fractions in [0, 1] (anomaly sets).
    public var auprc: Double?
    public var fpr95: Double?
    /// mIoU and per-class IoU (Cityscapes; classes below the ignore index, in train-id order).
    public var miou: Double?
    public var iou: [Double]?
    /// Time split.
    public var timing = EvaluationTiming()
}

@inline(__always) func nowMs() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
}

/// Evaluates a network on a dataset with the reference paper's protocol (product.md §3.7).
///
/// Per frame: the image is decoded, converted to RGB, Pillow-BILINEAR resized to
/// `width`×`height` and scaled to [0, 1] (CHW float32); `network` maps that input to
/// logits `[C, height, width]` (C order, batch dimension dropped). Anomaly sets: the label
/// is NEAREST-resized and mapped; frames without an anomaly pixel are skipped before the
/// network runs; scores of the rest are pooled and AuPRC / FPR95 computed once. Cityscapes:
/// argmax against the labels (255 → 19), `iouEval(classes, ignoreIndex)`.
///
/// - Parameters:
///   - dataset: the enumerated dataset.
///   - width, height: the network input size (1024 × 512 for the paper).
///   - score: the anomaly score (ignored for Cityscapes).
///   - classes, ignoreIndex: Cityscapes IoU setup (20 and 19 for the paper's models).
///   - heatmapDirectory: when set, writes `<stem>.png` heatmaps (as `run --heatmap`) of the
///     frames evaluated (anomaly sets).
///   - progress: called after each frame with (frames done, frame count).
///   - network: the network; its errors are passed through.
/// - Throws: `SegcError` naming the file for decode errors, shape mismatches, or metric
///   errors (e.g. no anomaly pixel in the whole dataset).
public func evaluate(dataset: Dataset, width: Int, height: Int, score: AnomalyScore = .msp(temperature: 1),
                     classes: Int = 20, ignoreIndex: Int = 19, heatmapDirectory: String? = nil,
                     progress: ((Int, Int) -> Void)? = nil,
                     network: ([Float]) throws(SegcError) -> [Float]) throws(SegcError) -> EvaluationResult {
    try Image.checkSize(width: width, height: height, file: nil)
    let start = nowMs()
    var result = EvaluationResult(kind: dataset.kind, score: dataset.kind.isAnomaly ? score : nil)
    result.frames = dataset.frames.count
    var timing = EvaluationTiming()
    var anomaly = AnomalyAccumulator()
    var iouAcc = try IoUAccumulator(classes: classes, ignoreIndex: ignoreIndex)
    if let heatmapDirectory { try makeDirectories(heatmapDirectory) }
    let pixels = width * height
    for (index, frame) in dataset.frames.enumerated() {
        // Label first: frames without anomaly pixels are skipped before any other work.
        var t0 = nowMs()
        var mask = try LabelMask.decode(contentsOf: frame.label)
        var t1 = nowMs()
        timing.decode += t1 - t0
        if mask.width != width || mask.height != height {
            do { mask = try mask.resizedNearest(width: width, height: height) } catch { throw error.inFile(frame.label) }
        }
        for m in dataset.labelMapping { mask.map(m.from, to: m.to) }
        t0 = nowMs()
        timing.resize += t0 - t1
        if dataset.kind.isAnomaly && !mask.values.contains(1) {
            result.framesSkipped += 1
            progress?(index + 1, dataset.frames.count)
            continue
        }
        let image = try Image.decode(contentsOf: frame.image)
        t1 = nowMs()
        timing.decode += t1 - t0
        let input: [Float]
        do {
            input = try image.convertedToRGB().resized(width: width, height: height, filter: .bilinear).chwFloats()
        } catch { throw error.inFile(frame.image) }
        t0 = nowMs()
        timing.resize += t0 - t1
        let logits = try network(input)
        t1 = nowMs()
        timing.network += t1 - t0
        guard !logits.isEmpty, logits.count % pixels == 0 else {
            throw SegcError(.mismatch, "the network returned \(logits.count) values, not [C, \(height), \(width)]", file: frame.image)
        }
        let c = logits.count / pixels
        if dataset.kind.isAnomaly {
            let (s, _) = try Scores.compute(score, logits: logits, classes: c, pixels: pixels)
            if let dir = heatmapDirectory {
                try PNGWriter.write(try Visualization.heatmap(scores: s, width: width, height: height), to: dir + "/" + frame.stem + ".png")
            }
            t0 = nowMs()
            timing.score += t0 - t1
            do { try anomaly.add(scores: s, labels: mask.values) } catch { throw error.inFile(frame.image) }
            t1 = nowMs()
            timing.metrics += t1 - t0
        } else {
            let (_, am) = try Scores.compute(nil, logits: logits, classes: c, pixels: pixels, argmax: true)
            t0 = nowMs()
            timing.score += t0 - t1
            do { try iouAcc.add(predictions: am, labels: mask.values) } catch { throw error.inFile(frame.label) }
            t1 = nowMs()
            timing.metrics += t1 - t0
        }
        result.framesUsed += 1
        progress?(index + 1, dataset.frames.count)
    }
    let t0 = nowMs()
    if dataset.kind.isAnomaly {
        result.anomalyPixels = anomaly.positives
        result.inlierPixels = anomaly.negatives
        result.ignoredPixels = anomaly.ignored
        do {
            let m = try anomaly.metrics()
            result.auprc = m.auprc
            result.fpr95 = m.fpr95
        } catch { throw error.inFile(dataset.root) }
    } else {
        let (miou, per) = iouAcc.iou()
        result.miou = miou
        result.iou = per
        result.ignoredPixels = Int(iouAcc.ignoredPixels)
    }
    timing.metrics += nowMs() - t0
    timing.total = nowMs() - start
    result.timing = timing
    return result
}
