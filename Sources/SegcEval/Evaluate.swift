#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore
import Dispatch

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
    /// Time the loop waited for the next frame's decode and resize, which otherwise run
    /// on a background queue while the network works on the previous frame (so `decode`
    /// and `resize` are work done, not all of it on the critical path).
    public var prefetchWait = 0.0
    /// Everything but the network, as a fraction of `total` (wall time).
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
///   - channels: input channels of the network: 3 (RGB, the default) or 1 (grey, Pillow's
///     `convert('L')`); images carry no other count.
///   - progress: called after each frame with (frames done, frame count).
///   - network: the network; its errors are passed through.
/// - Throws: `SegcError` naming the file for decode errors, shape mismatches, or metric
///   errors (e.g. no anomaly pixel in the whole dataset).
public func evaluate(dataset: Dataset, width: Int, height: Int, score: AnomalyScore = .msp(temperature: 1),
                     classes: Int = 20, ignoreIndex: Int = 19, heatmapDirectory: String? = nil, channels: Int = 3,
                     progress: ((Int, Int) -> Void)? = nil,
                     network: ([Float]) throws(SegcError) -> [Float]) throws(SegcError) -> EvaluationResult {
    try Image.checkSize(width: width, height: height, file: nil)
    guard channels == 1 || channels == 3 else {
        throw SegcError(.unsupported, "the network's input has \(channels) channels; images can feed only 1-channel (grey) or 3-channel (RGB) inputs")
    }
    let start = nowMs()
    var result = EvaluationResult(kind: dataset.kind, score: dataset.kind.isAnomaly ? score : nil)
    result.frames = dataset.frames.count
    var timing = EvaluationTiming()
    var anomaly = AnomalyAccumulator()
    var iouAcc = try IoUAccumulator(classes: classes, ignoreIndex: ignoreIndex)
    if let heatmapDirectory { try makeDirectories(heatmapDirectory) }
    let pixels = width * height
    // Decoding and resizing frame i+1 overlaps the network on frame i (one frame of
    // lookahead on a background queue); `prefetchWait` is the time the loop still had to
    // wait for it. Results do not depend on the overlap.
    let prefetcher = FramePrefetcher(dataset: dataset, width: width, height: height, channels: channels)
    prefetcher.start(0)
    for (index, frame) in dataset.frames.enumerated() {
        var t1 = nowMs()
        let prepared = try prefetcher.take(index)
        timing.prefetchWait += nowMs() - t1
        if index + 1 < dataset.frames.count { prefetcher.start(index + 1) }
        timing.decode += prepared.decodeMs
        timing.resize += prepared.resizeMs
        guard let input = prepared.input else {
            result.framesSkipped += 1
            progress?(index + 1, dataset.frames.count)
            continue
        }
        let mask = prepared.mask
        var t0 = nowMs()
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

/// One frame made ready for the network: the NEAREST-resized, mapped label and, unless
/// the frame is skipped (anomaly set without an anomaly pixel), the CHW input.
struct PreparedFrame: Sendable {
    var mask: LabelMask
    var input: [Float]?
    var decodeMs = 0.0
    var resizeMs = 0.0

    static func make(_ dataset: Dataset, _ frame: DatasetFrame, width: Int, height: Int, channels: Int) throws(SegcError) -> PreparedFrame {
        var t0 = nowMs()
        var mask = try LabelMask.decode(contentsOf: frame.label)
        var t1 = nowMs()
        var decode = t1 - t0
        if mask.width != width || mask.height != height {
            do { mask = try mask.resizedNearest(width: width, height: height) } catch { throw error.inFile(frame.label) }
        }
        for m in dataset.labelMapping { mask.map(m.from, to: m.to) }
        t0 = nowMs()
        var resize = t0 - t1
        if dataset.kind.isAnomaly && !mask.values.contains(1) {
            return PreparedFrame(mask: mask, input: nil, decodeMs: decode, resizeMs: resize)
        }
        let image = try Image.decode(contentsOf: frame.image)
        t1 = nowMs()
        decode += t1 - t0
        let input: [Float]
        do {
            if channels == 1 {
                input = try image.convertedToGrey().resized(width: width, height: height, filter: .bilinear).pixels.map { Float($0) / 255 }
            } else {
                input = try image.convertedToRGB().resized(width: width, height: height, filter: .bilinear).chwFloats()
            }
        } catch { throw error.inFile(frame.image) }
        resize += nowMs() - t1
        return PreparedFrame(mask: mask, input: input, decodeMs: decode, resizeMs: resize)
    }
}

/// One-frame lookahead on a background queue. `start(i)` begins preparing frame i;
/// `take(i)` waits for it. Only one frame is in flight at a time.
final class FramePrefetcher: @unchecked Sendable {
    // @unchecked: `slot` is only touched under `lock`; `done` orders the hand-over.
    private let dataset: Dataset
    private let width: Int, height: Int, channels: Int
    private let queue = DispatchQueue(label: "segc.eval.prefetch")
    private let lock = NSLockLike()
    private var slot: (index: Int, result: Result<PreparedFrame, SegcError>)?
    private let done = DispatchSemaphore(value: 0)

    init(dataset: Dataset, width: Int, height: Int, channels: Int) {
        self.dataset = dataset; self.width = width; self.height = height; self.channels = channels
    }

    func start(_ index: Int) {
        queue.async { [self] in
            let frame = dataset.frames[index]
            let r: Result<PreparedFrame, SegcError>
            do throws(SegcError) { r = .success(try PreparedFrame.make(dataset, frame, width: width, height: height, channels: channels)) }
            catch { r = .failure(error) }
            lock.withLock { slot = (index, r) }
            done.signal()
        }
    }

    func take(_ index: Int) throws(SegcError) -> PreparedFrame {
        done.wait()
        let s = lock.withLock { () -> (index: Int, result: Result<PreparedFrame, SegcError>)? in
            let v = slot; slot = nil; return v
        }
        guard let s, s.index == index else { throw SegcError(.io, "internal error: frame prefetch out of order") }
        return try s.result.get()
    }
}

/// A pthread mutex (SegcEval avoids Foundation's NSLock).
final class NSLockLike: @unchecked Sendable {
    // @unchecked: the mutex is the synchronisation.
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m); defer { pthread_mutex_unlock(m) }
        return try body()
    }
}
