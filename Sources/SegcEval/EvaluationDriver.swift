import SegcCore
import Dispatch

/// One network evaluated by ``evaluate(dataset:width:height:jobs:progress:)``: every score
/// of a job is computed from the same logits, so a frame goes through each network once
/// however many scores (or tables) need it.
public struct EvaluationJob {
    /// Anomaly scores to pool (anomaly sets; ignored for Cityscapes). Each gets its own
    /// AuPRC / FPR95.
    public var scores: [AnomalyScore]
    /// Cityscapes IoU setup (20 and 19 for the paper's models).
    public var classes: Int
    public var ignoreIndex: Int
    /// Plot points kept per curve (PR and ROC) for each score; 0 = no curves.
    public var curvePoints: Int
    /// Called once per evaluated frame, in frame order, on the scoring queue (not the
    /// caller's thread), after the frame's scores were pooled. Its errors end the run.
    public var observer: ((FrameOutcome) throws(SegcError) -> Void)?
    /// The network: CHW float32 input in [0, 1] (1 × 3 × height × width without the batch
    /// dimension; apply any normalisation inside) → logits `[C, height, width]`.
    public var network: ([Float]) throws(SegcError) -> [Float]

    public init(scores: [AnomalyScore], classes: Int = 20, ignoreIndex: Int = 19, curvePoints: Int = 0,
                observer: ((FrameOutcome) throws(SegcError) -> Void)? = nil,
                network: @escaping ([Float]) throws(SegcError) -> [Float]) {
        self.scores = scores; self.classes = classes; self.ignoreIndex = ignoreIndex
        self.curvePoints = curvePoints; self.observer = observer; self.network = network
    }
}

/// What one job produced on one frame (handed to ``EvaluationJob/observer``).
public struct FrameOutcome: Sendable {
    /// Position of the frame in `Dataset.frames`.
    public let index: Int
    public let frame: DatasetFrame
    /// Network input size.
    public let width: Int, height: Int
    /// The network input before any normalisation: CHW float32, `Float(v) / 255`.
    public let input: [Float]
    /// The resized, mapped label.
    public let mask: LabelMask
    /// Logits `[classes, height, width]`.
    public let logits: [Float]
    public let classes: Int
    /// One score map per job score, in the job's order (empty for Cityscapes).
    public let scores: [[Float]]
}

/// One score's pooled result.
public struct ScoreEvaluation: Sendable {
    public var score: AnomalyScore
    /// Fractions in [0, 1], bit-identical to a single-score evaluation.
    public var auprc: Double
    public var fpr95: Double
    /// Plot points, when the job asked for them.
    public var curve: ScoreCurve?
}

/// One job's result on one dataset.
public struct JobEvaluation: Sendable {
    public var frames = 0, framesUsed = 0, framesSkipped = 0
    public var anomalyPixels = 0, inlierPixels = 0, ignoredPixels = 0
    /// Anomaly sets: one entry per job score, in order.
    public var scores: [ScoreEvaluation] = []
    /// Cityscapes: mIoU and per-class IoU.
    public var miou: Double?
    public var iou: [Double]?
    /// This job's network, scoring and metrics time (ms; scoring and metrics are work done
    /// on the scoring queue, overlapped with the next network call).
    public var networkMs = 0.0, scoreMs = 0.0, metricsMs = 0.0
}

/// All jobs on one dataset, with the shared timing (decode and resize are done once per
/// frame for every job; `network` is the sum over jobs).
public struct DatasetEvaluation: Sendable {
    public var kind: DatasetKind
    public var jobs: [JobEvaluation]
    public var timing: EvaluationTiming
}

/// Per-job mutable state, touched only on the scoring queue (and read after it drained).
private final class JobState: @unchecked Sendable {
    // @unchecked: the scoring queue is serial and the caller waits for it before reading.
    var anomaly: [AnomalyAccumulator]
    var iou: IoUAccumulator
    var result = JobEvaluation()
    init(scores: Int, classes: Int, ignoreIndex: Int) throws(SegcError) {
        anomaly = Array(repeating: AnomalyAccumulator(), count: scores)
        iou = try IoUAccumulator(classes: classes, ignoreIndex: ignoreIndex)
    }
}

/// Evaluates several networks on one dataset with the paper's protocol (product.md §3.7),
/// decoding each frame once: decode and resize of frame i+1 run on a background queue while
/// the networks work on frame i, and scoring / pooling of one network's logits runs on a
/// second background queue while the next network call runs. Results do not depend on
/// the overlap: each job's metrics are those of a single-job ``evaluate(dataset:width:height:score:classes:ignoreIndex:heatmapDirectory:progress:network:)``.
///
/// - Parameters:
///   - progress: called on the caller's thread after each frame with (frames done, frame count).
/// - Throws: the first `SegcError` of a decode, a network, an observer or the metrics
///   (e.g. no anomaly pixel in the whole dataset), naming the file.
public func evaluate(dataset: Dataset, width: Int, height: Int, jobs: [EvaluationJob],
                     progress: ((Int, Int) -> Void)? = nil) throws(SegcError) -> DatasetEvaluation {
    try startEvaluation(dataset: dataset, width: width, height: height, jobs: jobs, progress: progress).finish()
}

/// The pooled part of an evaluation whose frames have all been processed: what is left is
/// sorting the pooled scores into AuPRC / FPR95 (or reducing the IoU counts). Splitting it
/// off lets a caller run it on another thread while the networks work on the next dataset.
public final class PendingEvaluation: @unchecked Sendable {
    // @unchecked: immutable after construction; `finish` only reads the accumulators.
    fileprivate let kind: DatasetKind
    fileprivate let root: String
    fileprivate let scores: [[AnomalyScore]]
    fileprivate let curvePoints: [Int]
    fileprivate let states: [JobState]
    fileprivate let timing: EvaluationTiming

    fileprivate init(kind: DatasetKind, root: String, scores: [[AnomalyScore]], curvePoints: [Int], states: [JobState],
                     timing: EvaluationTiming) {
        self.kind = kind; self.root = root; self.scores = scores; self.curvePoints = curvePoints
        self.states = states; self.timing = timing
    }

    /// Computes the metrics (concurrently over scores). Call once.
    public func finish() throws(SegcError) -> DatasetEvaluation {
        var timing = self.timing
        let t0 = nowMs()
        try finishMetrics(scores: scores, curvePoints: curvePoints, states: states, anomalySet: kind.isAnomaly, root: root)
        let dt = nowMs() - t0
        timing.metrics += dt
        timing.total += dt
        return DatasetEvaluation(kind: kind, jobs: states.map(\.result), timing: timing)
    }
}

/// ``evaluate(dataset:width:height:jobs:progress:)`` up to the pooled metrics: runs every
/// frame through every job and returns what is left to compute.
public func startEvaluation(dataset: Dataset, width: Int, height: Int, jobs: [EvaluationJob],
                            progress: ((Int, Int) -> Void)? = nil) throws(SegcError) -> PendingEvaluation {
    try Image.checkSize(width: width, height: height, file: nil)
    let start = nowMs()
    var timing = EvaluationTiming()
    var states: [JobState] = []
    for job in jobs { states.append(try JobState(scores: job.scores.count, classes: job.classes, ignoreIndex: job.ignoreIndex)) }
    let pixels = width * height
    let anomalySet = dataset.kind.isAnomaly
    let scoring = DispatchQueue(label: "segc.eval.score")
    let inFlight = DispatchGroup()
    let errorLock = NSLockLike()
    nonisolated(unsafe) var firstError: SegcError?
    func pendingError() -> SegcError? { errorLock.withLock { firstError } }

    let prefetcher = FramePrefetcher(dataset: dataset, width: width, height: height)
    prefetcher.start(0)
    // On any error, let the frame being scored finish before returning, so no observer
    // (heatmap writer, gallery) runs after the caller has seen the error.
    do throws(SegcError) {
        for (index, frame) in dataset.frames.enumerated() {
            var t1 = nowMs()
            let prepared = try prefetcher.take(index)
            timing.prefetchWait += nowMs() - t1
            if index + 1 < dataset.frames.count { prefetcher.start(index + 1) }
            timing.decode += prepared.decodeMs
            timing.resize += prepared.resizeMs
            guard let input = prepared.input else {
                for s in states { s.result.framesSkipped += 1 }
                progress?(index + 1, dataset.frames.count)
                continue
            }
            for (j, job) in jobs.enumerated() {
                let t0 = nowMs()
                let logits = try job.network(input)
                t1 = nowMs()
                timing.network += t1 - t0
                states[j].result.networkMs += t1 - t0
                guard !logits.isEmpty, logits.count % pixels == 0 else {
                    throw SegcError(.mismatch, "the network returned \(logits.count) values, not [C, \(height), \(width)]", file: frame.image)
                }
                // One frame's scoring in flight at a time: bounds memory to one logits tensor
                // while still overlapping scoring with the next network call.
                inFlight.wait()
                if let e = pendingError() { throw e }
                let state = states[j]
                let mask = prepared.mask
                // Only the scores and the observer move to the scoring queue (never the network
                // closure, which callers may pass as non-escaping); the serial queue never runs
                // the observer concurrently with itself.
                let boxed = UncheckedBox((scores: job.scores, observer: job.observer))
                inFlight.enter()
                scoring.async {
                    defer { inFlight.leave() }
                    do throws(SegcError) {
                        try scoreFrame(scores: boxed.value.scores, observer: boxed.value.observer, state: state, index: index, frame: frame, input: input, mask: mask,
                                       logits: logits, width: width, height: height, anomalySet: anomalySet)
                    } catch { errorLock.withLock { if firstError == nil { firstError = error } } }
                }
            }
            progress?(index + 1, dataset.frames.count)
        }
    } catch {
        inFlight.wait()
        throw error
    }
    inFlight.wait()
    if let e = pendingError() { throw e }
    for s in states { s.result.frames = dataset.frames.count }
    for s in states { timing.score += s.result.scoreMs; timing.metrics += s.result.metricsMs }
    timing.total = nowMs() - start
    return PendingEvaluation(kind: dataset.kind, root: dataset.root, scores: jobs.map(\.scores),
                             curvePoints: jobs.map(\.curvePoints), states: states, timing: timing)
}

/// Scores (or argmax) of one job on one frame, pooled into the job's accumulators.
private func scoreFrame(scores: [AnomalyScore], observer: ((FrameOutcome) throws(SegcError) -> Void)?, state: JobState, index: Int, frame: DatasetFrame, input: [Float],
                        mask: LabelMask, logits: [Float], width: Int, height: Int, anomalySet: Bool) throws(SegcError) {
    let pixels = width * height
    let c = logits.count / pixels
    var t0 = nowMs()
    var maps: [[Float]] = []
    if anomalySet {
        // The labels are grouped once for all scores of the frame.
        let split = LabelSplit(labels: mask.values)
        for (k, score) in scores.enumerated() {
            let (s, _) = try Scores.compute(score, logits: logits, classes: c, pixels: pixels)
            let t1 = nowMs()
            state.result.scoreMs += t1 - t0
            do { try state.anomaly[k].add(scores: s, split: split) } catch { throw error.inFile(frame.image) }
            t0 = nowMs()
            state.result.metricsMs += t0 - t1
            maps.append(s)
        }
    } else {
        let (_, am) = try Scores.compute(nil, logits: logits, classes: c, pixels: pixels, argmax: true)
        let t1 = nowMs()
        state.result.scoreMs += t1 - t0
        do { try state.iou.add(predictions: am, labels: mask.values) } catch { throw error.inFile(frame.label) }
        t0 = nowMs()
        state.result.metricsMs += t0 - t1
    }
    state.result.framesUsed += 1
    if let observer {
        try observer(FrameOutcome(index: index, frame: frame, width: width, height: height, input: input, mask: mask,
                                  logits: logits, classes: c, scores: maps))
        state.result.scoreMs += nowMs() - t0
    }
}

/// Pooled metrics of every (job, score), computed concurrently (each is independent and
/// deterministic; the sort dominates).
private func finishMetrics(scores: [[AnomalyScore]], curvePoints: [Int], states: [JobState], anomalySet: Bool, root: String) throws(SegcError) {
    if !anomalySet {
        for s in states {
            let (miou, per) = s.iou.iou()
            s.result.miou = miou
            s.result.iou = per
            s.result.ignoredPixels = Int(s.iou.ignoredPixels)
        }
        return
    }
    var pending: [(job: Int, score: Int)] = []
    for (j, jobScores) in scores.enumerated() {
        let s = states[j]
        let first = s.anomaly.first ?? AnomalyAccumulator()
        s.result.anomalyPixels = first.positives
        s.result.inlierPixels = first.negatives
        s.result.ignoredPixels = first.ignored
        for k in jobScores.indices { pending.append((j, k)) }
    }
    let work = pending
    let lock = NSLockLike()
    nonisolated(unsafe) var out = [Result<ScoreEvaluation, SegcError>?](repeating: nil, count: work.count)
    DispatchQueue.concurrentPerform(iterations: work.count) { w in
        let (j, k) = work[w]
        let acc = states[j].anomaly[k]
        let r: Result<ScoreEvaluation, SegcError>
        do throws(SegcError) {
            let m = try acc.metricsAndCurve(curvePoints: curvePoints[j])
            r = .success(ScoreEvaluation(score: scores[j][k], auprc: m.auprc, fpr95: m.fpr95, curve: m.curve))
        } catch { r = .failure(error.inFile(root)) }
        lock.withLock { out[w] = r }
    }
    for s in states { s.result.scores = [] }
    for (w, item) in work.enumerated() {
        guard let r = out[w] else { continue }
        states[item.job].result.scores.append(try r.get())
    }
}

/// Carries a non-Sendable value to a queue whose use of it is serialised by the caller.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
