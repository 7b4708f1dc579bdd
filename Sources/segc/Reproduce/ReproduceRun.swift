import SegcCore
import SegcEval
import SegcRuntime
import Dispatch

/// One reproduced figure and the command that reproduces it on its own.
struct Figure {
    let value: Double
    let command: String
}

/// Speed and size of one model (Table 5), measured by `segc bench`'s own loop.
struct SpeedFigures {
    let medianMs: Double
    let minMs: Double
    let runs: Int
    let threads: Int
    let kernels: String
    let macs: Int
    let parameters: Int
    let planBytes: Int
    let command: String
}

/// Everything `segc reproduce` measured, keyed for the table writers.
struct ReproduceResults {
    var miou: [String: Figure] = [:]                                  // model key → mIoU
    var anomaly: [String: [ScoreSpec: [String: (auprc: Figure, fpr95: Figure)]]] = [:] // key → score → dataset title
    var calibrated: [String: (t: Double, command: String)] = [:]      // key → T
    var curves: [String: [(label: String, curve: ScoreCurve)]] = [:]  // dataset title → lines
    var galleries: [String: (label: String, worst: GalleryFrame?, best: GalleryFrame?)] = [:]
    var speed: [String: SpeedFigures] = [:]
    var datasetsFound: [String: String] = [:]                         // dataset title → folder
    var warnings: [String] = []
    /// Wall-time split (ms): network calls of the evaluation, bench runs, everything.
    var networkMs = 0.0, benchMs = 0.0, wallMs = 0.0
    /// Pruning and quantizing Tables 4–5's compressed plans (not evaluation time).
    var deriveMs = 0.0
    var decodeMs = 0.0, resizeMs = 0.0, scoreMs = 0.0, metricsMs = 0.0, prefetchWaitMs = 0.0, loadMs = 0.0
    var framesEvaluated = 0
    /// Worker threads of the sessions (the runtime's choice when --threads is not given).
    var threads = 0
}

/// Runs the tables: finds models and datasets, compiles each model once, evaluates every
/// (model, dataset) pair with one forward pass per frame (all scores of a model from the
/// same logits; each dataset's frames decoded once for all models), then measures speed.
struct ReproduceRun {
    let modelsDir: String
    let dataDir: String
    let tables: [TableSpec]
    let threads: Int
    let benchRuns: Int
    /// Where Tables 4–5's compressed plans are written (and found again).
    let outDir: String
    let quiet: Bool
    let bar: ProgressBar
    let warn: (String) -> Void

    static func shellQuote(_ s: String) -> String {
        if !s.isEmpty && s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-+=,:".contains($0) }) { return s }
        var out = "'"
        for c in s { if c == "'" { out += "'\\''" } else { out.append(c) } }
        return out + "'"
    }

    static func anomalyScore(_ spec: ScoreSpec, calibrated: Double?) -> AnomalyScore? {
        switch spec {
        case .msp(let t): return .msp(temperature: Float(t))
        case .calibratedMSP: return calibrated.map { .msp(temperature: Float($0)) }
        case .maxLogit: return .maxLogit
        case .maxEntropy: return .maxEntropy
        case .void: return .void
        }
    }

    /// The `segc eval` arguments selecting `spec`; temperatures are always explicit so a
    /// plan's stored temperature cannot change the figure.
    static func scoreArguments(_ spec: ScoreSpec, calibrated: Double?) -> String {
        switch spec {
        case .msp(let t): return "--score msp --temperature \(t)"
        case .calibratedMSP: return "--score msp --temperature \(calibrated.map { String($0) } ?? "?")"
        case .maxLogit: return "--score maxlogit"
        case .maxEntropy: return "--score maxentropy"
        case .void: return "--score void"
        }
    }

    func run() throws -> ReproduceResults {
        let start = ContinuousClock.now
        var results = ReproduceResults()
        func note(_ w: String) { results.warnings.append(w); warn(w) }

        // Models every requested table needs, in table order (the first is the one whose
        // frames the report shows).
        var refs: [ModelRef] = []
        var scores: [ModelRef: [ScoreSpec]] = [:]
        for t in tables {
            for r in t.rows {
                guard case .measured(let ref, let spec) = r.source else { continue }
                if !refs.contains(ref) { refs.append(ref) }
                if !t.isSpeed && !(scores[ref]?.contains(spec) ?? false) { scores[ref, default: []].append(spec) }
            }
        }
        var loaded: [ModelRef: LoadedModel] = [:]
        let t0 = ContinuousClock.now
        let calibDir = dataDir + "/" + PaperLayout.calibrationFolder
        let variants = CompressedVariants(outDir: outDir, calibDir: calibDir, threads: threads, quiet: quiet, note: note)
        for ref in refs {
            guard let path = Discovery.modelFile(ref, in: modelsDir) else {
                note("\(modelsDir): no \(ref.stem).segc/.pth/.onnx; rows of \(ref.name) are skipped")
                continue
            }
            if ref.variant == .fp32 {
                loaded[ref] = try Discovery.load(ref, path: path)
                continue
            }
            guard isDirectory(calibDir) else {
                note("\(dataDir): no \(PaperLayout.calibrationFolder) to calibrate \(ref.name) on; its rows are skipped")
                continue
            }
            let d0 = ContinuousClock.now
            let (plan, recipe) = try variants.plan(ref, checkpoint: path)
            results.deriveMs += BenchCommand.ms(ContinuousClock.now - d0)
            loaded[ref] = try Discovery.load(ref, path: plan)
            loaded[ref]!.recipe = recipe
        }
        results.loadMs = BenchCommand.ms(ContinuousClock.now - t0) - results.deriveMs
        let evaluated = refs.filter { loaded[$0] != nil && !(scores[$0] ?? []).isEmpty }
        var sessions: [ModelRef: SegcSession] = [:]
        for ref in evaluated {
            let s = try SegcSession(model: loaded[ref]!.model, threads: threads)
            sessions[ref] = s
            results.threads = s.threads
        }

        // Datasets, Cityscapes first: its pass also feeds the temperature calibration.
        var columns: [(DatasetColumn, Dataset)] = []
        if !evaluated.isEmpty {
            for c in [PaperLayout.cityscapes] + PaperLayout.anomalySets {
                guard let folder = Discovery.datasetFolder(c, in: dataDir) else {
                    note("\(dataDir): no \(c.folders.joined(separator: " or ")) folder; its columns are skipped")
                    continue
                }
                columns.append((c, try Dataset(directory: folder, kind: c.kind)))
                results.datasetsFound[c.title] = folder
            }
        }
        let speedRefs = tables.contains(where: \.isSpeed)
            ? refs.filter { ref in loaded[ref] != nil && tables.contains { t in t.isSpeed && t.rows.contains { if case .measured(ref, _) = $0.source { true } else { false } } } }
            : []
        let totalUnits = columns.reduce(0) { $0 + $1.1.frames.count } + speedRefs.count
        var unitsDone = 0

        let calibrationFrames = 50   // calibrate-temperature's default --count
        let metricsQueue = DispatchQueue(label: "segc.reproduce.metrics")
        var finished: [(DatasetColumn, Dataset, MetricsFuture, [FrameGallery?])] = []
        for (column, dataset) in columns {
            let (h, w) = (512, 1024)
            var jobs: [EvaluationJob] = []
            var galleries: [FrameGallery?] = []
            let boxes = evaluated.map { _ in SampleBox() }
            for (i, ref) in evaluated.enumerated() {
                let m = loaded[ref]!
                let session = sessions[ref]!
                guard m.model.inputShape[2] == h, m.model.inputShape[3] == w else {
                    throw SegcError(.unsupported, "reproduce evaluates at 512x1024; this plan's input is \(m.model.inputShape)", file: m.path)
                }
                var jobScores: [AnomalyScore] = []
                var shown: [(name: String, index: Int)] = []
                for spec in scores[ref] ?? [] {
                    guard let s = Self.anomalyScore(spec, calibrated: results.calibrated[ref.key]?.t) else { continue }
                    if Self.isPlotted(spec) { shown.append((spec.label, jobScores.count)) }
                    jobScores.append(s)
                }
                var observer: ((FrameOutcome) throws(SegcError) -> Void)?
                var gallery: FrameGallery?
                if column.kind == .cityscapes {
                    if (scores[ref] ?? []).contains(.calibratedMSP) {
                        let box = boxes[i]
                        box.samples = TemperatureSamples(classes: m.model.classes, pixelStride: 4)
                        observer = { (o: FrameOutcome) throws(SegcError) in
                            if o.index < calibrationFrames { try box.samples?.add(logits: o.logits, mask: o.mask) }
                        }
                    }
                } else if i == 0 {
                    // The report's frames: the first model, each plotted score (not the extra
                    // temperatures of Table 2), ranked by the first.
                    let g = FrameGallery(scoreNames: shown.map(\.name), scoreIndices: shown.map(\.index))
                    gallery = g
                    observer = { (o: FrameOutcome) throws(SegcError) in try g.add(o) }
                }
                galleries.append(gallery)
                let meta = m.metadata
                jobs.append(EvaluationJob(scores: jobScores, classes: m.model.classes, ignoreIndex: 19,
                                          curvePoints: column.kind == .cityscapes ? 0 : 300, observer: observer) {
                    (input: [Float]) throws(SegcError) -> [Float] in
                    var x = input
                    meta.normalise(&x)
                    do {
                        return try x.withUnsafeBufferPointer { try Array(session.run($0)) }
                    } catch let e as SegcError { throw e } catch { throw SegcError(.io, "\(error)", file: m.path) }
                })
            }
            let offset = unitsDone
            let pending = try startEvaluation(dataset: dataset, width: w, height: h, jobs: jobs) { done, _ in
                bar.update(offset + done, totalUnits, detail: column.title)
            }
            unitsDone += dataset.frames.count
            // The calibration samples are complete once the frames are: solve now, so the
            // anomaly sets that follow can use the temperature.
            for (i, ref) in evaluated.enumerated() {
                guard let s = boxes[i].samples else { continue }
                guard s.count > 0 else { note("\(dataset.root): no labelled pixel to calibrate \(ref.name)"); continue }
                let m = loaded[ref]!, path = Self.shellQuote(m.path), folder = Self.shellQuote(dataset.root)
                let command = m.path.hasSuffix(".segc") ? "segc calibrate-temperature \(path) --dataset \(folder)"
                    : "segc convert \(path) -o \(ref.key).segc && segc calibrate-temperature \(ref.key).segc --dataset \(folder)"
                results.calibrated[ref.key] = (s.fit.solve(), m.command(command))
            }
            // The pooled sorts of this dataset run while the networks start on the next one.
            let future = MetricsFuture(pending)
            metricsQueue.async { future.run() }
            finished.append((column, dataset, future, galleries))
        }
        for (column, dataset, future, galleries) in finished {
            let d = try future.get()
            results.networkMs += d.timing.network
            results.decodeMs += d.timing.decode; results.resizeMs += d.timing.resize
            results.scoreMs += d.timing.score; results.metricsMs += d.timing.metrics
            results.prefetchWaitMs += d.timing.prefetchWait
            results.framesEvaluated += d.jobs.first?.framesUsed ?? 0
            let folder = Self.shellQuote(dataset.root)
            for (i, ref) in evaluated.enumerated() {
                let job = d.jobs[i]
                let m = loaded[ref]!, path = Self.shellQuote(m.path)
                if column.kind == .cityscapes {
                    if let miou = job.miou {
                        results.miou[ref.key] = Figure(value: miou, command: m.command("segc eval \(path) --dataset \(folder) --json"))
                    }
                    continue
                }
                var k = 0
                for spec in scores[ref] ?? [] {
                    let cal = results.calibrated[ref.key]?.t
                    guard Self.anomalyScore(spec, calibrated: cal) != nil else { continue }
                    let e = job.scores[k]; k += 1
                    let cmd = m.command("segc eval \(path) --dataset \(folder) \(Self.scoreArguments(spec, calibrated: cal)) --json")
                    results.anomaly[ref.key, default: [:]][spec, default: [:]][column.title] =
                        (Figure(value: e.auprc, command: cmd), Figure(value: e.fpr95, command: cmd))
                    // Plotted: every score but the extra temperatures (Table 2 has its own rows).
                    if let c = e.curve, Self.isPlotted(spec) {
                        results.curves[column.title, default: []].append(("\(ref.name) \(spec.label)", c))
                    }
                }
                if let g = galleries[i] {
                    results.galleries[column.title] = (ref.name, g.worst, g.best)
                }
            }
        }
        for ref in evaluated where (scores[ref] ?? []).contains(.calibratedMSP) && results.calibrated[ref.key] == nil {
            note("no Cityscapes folder in \(dataDir): the calibrated-temperature row of \(ref.name) is skipped")
        }

        for ref in speedRefs {
            let m = loaded[ref]!
            let session = try SegcSession(model: m.model, threads: threads)
            results.threads = session.threads
            let b0 = ContinuousClock.now
            let times = try BenchCommand.measure(session: session, input: BenchCommand.defaultInput(count: m.model.inputShape.reduce(1, *)),
                                                 warmup: 2, runs: benchRuns)
            results.benchMs += BenchCommand.ms(ContinuousClock.now - b0)
            let sorted = times.sorted()
            results.speed[ref.key] = SpeedFigures(
                medianMs: BenchCommand.median(sorted), minMs: sorted[0], runs: benchRuns, threads: session.threads,
                kernels: KernelLevel.current.description, macs: m.macs, parameters: m.parameters, planBytes: m.planBytes,
                command: m.command("segc bench \(Self.shellQuote(m.path)) --threads \(session.threads) --warmup 2 --runs \(benchRuns) --json"))
            unitsDone += 1
            bar.update(unitsDone, totalUnits, detail: "bench \(ref.name)")
        }
        results.wallMs = BenchCommand.ms(ContinuousClock.now - start)
        return results
    }

    static func isPlotted(_ spec: ScoreSpec) -> Bool {
        if case .msp(let t) = spec { return t == 1 }
        return true
    }
}

/// A dataset's pooled metrics, computed on a background queue; `get` waits for them.
private final class MetricsFuture: @unchecked Sendable {
    // @unchecked: `result` is written once before `done` is signalled and read after.
    private let pending: PendingEvaluation
    private var result: Result<DatasetEvaluation, SegcError>?
    private let done = DispatchSemaphore(value: 0)
    init(_ pending: PendingEvaluation) { self.pending = pending }
    func run() {
        do throws(SegcError) { result = .success(try pending.finish()) } catch { result = .failure(error) }
        done.signal()
    }
    func get() throws(SegcError) -> DatasetEvaluation {
        done.wait()
        done.signal()
        return try result!.get()
    }
}

/// Temperature samples filled on the scoring queue, read after the dataset finished.
private final class SampleBox: @unchecked Sendable {
    // @unchecked: written only by the driver's serial scoring queue, read after it drained.
    var samples: TemperatureSamples?
}
