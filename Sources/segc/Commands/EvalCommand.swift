import ArgumentParser
import SegcCore
import SegcCompiler
import SegcPlan
import SegcRuntime
import SegcEval

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a plan on an anomaly dataset (AuPRC, FPR95) or Cityscapes (mIoU), as the paper does.",
        discussion: """
        Examples:
          segc eval erfnet.segc --dataset ../shared/data/RoadAnomaly21 --score maxlogit
          segc eval enet_void.pth --dataset ../shared/data/fs_static --score void --json
          segc eval erfnet.segc --dataset ../shared/data/cityscapes            # mIoU
          segc eval midenet.segc --dataset data/fs_static --heatmaps heat/
          segc eval erfnet.int8.segc --dataset ../shared/data/RoadAnomaly21 --score maxlogit --fallback erfnet.segc
        The kind is detected from the folder name (RoadAnomaly21, RoadObsticle21/RoadObstacle21,
        FS_LostFound_full, fs_static, RoadAnomaly, cityscapes) or given with --kind. Protocol:
        product.md §3.7 (Pillow bilinear to the plan's input size, NEAREST labels, frames without
        anomaly pixels skipped, AuPRC and FPR95 pooled over all frames). With --guard an int8 plan's
        range guard is checked on every frame; with --fallback the frames it flags are scored with
        the fallback plan's logits (the count is reported).
        """)

    @Argument(help: "A .segc plan (or a model, converted at 512x1024 first).")
    var plan: String

    @Option(help: "Dataset folder.")
    var dataset: String

    @Option(help: "Dataset kind: roadanomaly21, roadobstacle21, fs_lostfound, fs_static, roadanomaly, cityscapes, generic.")
    var kind: String?

    @Option(help: "Split for Cityscapes (default val).")
    var split = "val"

    @Option(help: "Anomaly score: msp (default), maxlogit, maxentropy, void.")
    var score = "msp"

    @Option(help: "Temperature for msp (default: the plan's).")
    var temperature: Double?

    @Option(help: "Write one heatmap PNG per evaluated frame into this folder.")
    var heatmaps: String?

    @Option(help: "Write a self-contained HTML report (table, PR/ROC curves, worst and best frames) to this file.")
    var report: String?

    @Option(help: "Architecture, when PLAN is a model.")
    var arch: String?

    @OptionGroup var rangeGuard: RangeGuardOptions
    @OptionGroup var global: GlobalOptions
    @OptionGroup var kernelOptions: KernelOptions

    func validate() throws {
        if AnomalyScore(name: score) == nil { throw ValidationError("unknown --score '\(score)' (msp, maxlogit, maxentropy, void)") }
        if let kind, DatasetKind(rawValue: kind) == nil {
            throw ValidationError("unknown --kind '\(kind)' (\(DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let temperature, !(temperature > 0 && temperature.isFinite) { throw ValidationError("--temperature must be positive") }
    }

    func run() throws {
        let start = ContinuousClock.now
        try kernelOptions.apply(for: plan)
        let (model, meta) = try PlanLoader.loadWithMetadata(plan, arch: arch, size: nil)
        let session = try SegcSession(model: model, threads: global.threads ?? 0)
        let network = try GuardedNetwork(session: session, plan: plan, options: rangeGuard, arch: arch,
                                         threads: global.threads ?? 0, hugePages: true)
        let ds = try Dataset(directory: dataset, kind: kind.flatMap(DatasetKind.init(rawValue:)), split: split)
        let shape = model.inputShape
        guard shape.count == 4, model.outputShape.count == 4 else {
            throw SegcError(.unsupported, "evaluation needs an NCHW input and [1,C,H,W] logits (output \(model.outputShape))", file: plan)
        }
        let t = Float(temperature ?? meta.temperature)
        guard let scoreKind = AnomalyScore(name: score, temperature: t) else { throw ValidationError("unknown --score") }
        let classes = model.outputShape[1]
        if let report, isDirectory(report) { throw SegcError(.io, "is a folder; --report names an HTML file", file: report) }
        let bar = ProgressBar("eval \(ds.kind.rawValue)", quiet: global.quiet)
        // The evaluation driver feeds RGB frames; grey (1-channel) plans are for `run`.
        guard shape[1] == 3 else {
            throw SegcError(.unsupported, "eval feeds RGB frames; the plan's input has \(shape[1]) channels", file: plan)
        }
        // The report's frames: ranked by per-frame AuPRC, rendered only when they win.
        let gallery = report != nil && ds.kind.isAnomaly ? FrameGallery(scoreNames: [scoreLabel(scoreKind)]) : nil
        var observer: ((FrameOutcome) throws(SegcError) -> Void)?
        if let gallery { observer = { (o: FrameOutcome) throws(SegcError) in try gallery.add(o) } }
        let (result, curve) = try evaluateWithCurve(dataset: ds, width: shape[3], height: shape[2], score: scoreKind, classes: classes,
                                  ignoreIndex: 19, heatmapDirectory: heatmaps, curvePoints: report != nil ? 400 : 0,
                                  observer: observer,
                                  progress: { bar.update($0, $1) }) {
            (input: [Float]) throws(SegcError) -> [Float] in
            var x = input
            meta.normalise(&x)
            do {
                return try x.withUnsafeBufferPointer { try Array(network.run($0)) }
            } catch let e as SegcError { throw e } catch { throw SegcError(.io, "\(error)", file: plan) }
        }
        let totalMs = BenchCommand.ms(ContinuousClock.now - start)
        if let report {
            let command = "segc eval " + CommandLine.arguments.dropFirst(2).map(ReproduceRun.shellQuote).joined(separator: " ")
            let page = EvalReport.page(plan: plan, datasetPath: dataset, result: result, scoreLabel: scoreLabel(scoreKind),
                                       curve: curve, gallery: gallery, threads: session.threads, command: command)
            try AtomicFile.write(report, bytes: Array(page.html().utf8))
        }
        let tm = result.timing
        let timing: JSON = .object([("decode", .double(tm.decode)), ("resize", .double(tm.resize)), ("network", .double(tm.network)),
                                    ("score", .double(tm.score)), ("metrics", .double(tm.metrics)), ("prefetch_wait", .double(tm.prefetchWait)),
                                    ("total", .double(tm.total)),
                                    ("command_total", .double(totalMs))])
        if global.json {
            var fields: [(String, JSON)] = [
                ("plan", .string(plan)), ("dataset", .string(dataset)), ("kind", .string(ds.kind.rawValue)),
                ("score", ds.kind.isAnomaly ? .string(scoreKind.name) : .null),
                ("temperature", ds.kind.isAnomaly && scoreKind.name == "msp" ? .double(Double(t)) : .null),
                ("frames", .int(result.frames)), ("frames_used", .int(result.framesUsed)), ("frames_skipped", .int(result.framesSkipped)),
                ("pixels", .object([("anomaly", .int(result.anomalyPixels)), ("inlier", .int(result.inlierPixels)),
                                    ("ignored", .int(result.ignoredPixels))])),
            ]
            if let a = result.auprc { fields.append(("auprc", .double(a))) }
            if let f = result.fpr95 { fields.append(("fpr95", .double(f))) }
            if let m = result.miou { fields.append(("miou", .double(m))) }
            if let iou = result.iou {
                let names = Visualization.cityscapesClassNames
                var perClass: [(String, JSON)] = []
                for (i, v) in iou.enumerated() { perClass.append((i < names.count ? names[i] : "class \(i)", .double(v))) }
                fields.append(("iou", .object(perClass)))
            }
            if rangeGuard.enabled { fields.append(("range_guard", network.summaryJSON)) }
            fields.append(("timing_ms", timing))
            print(JSON.object(fields).text)
            return
        }
        func pct(_ v: Double) -> String { String(format2: v * 100) }
        print("\(Compiler.baseName(plan)) on \(ds.kind.rawValue) (\(dataset)): \(result.framesUsed) of \(result.frames) frames used, \(result.framesSkipped) skipped")
        if let a = result.auprc, let f = result.fpr95 {
            print("  score \(scoreKind.name)\(scoreKind.name == "msp" ? " (T=\(t))" : ""): AuPRC \(pct(a)) %, FPR95 \(pct(f)) %")
            print("  pixels: \(result.anomalyPixels) anomaly, \(result.inlierPixels) inlier, \(result.ignoredPixels) ignored")
        }
        if let m = result.miou { print("  mIoU \(pct(m)) %") }
        if rangeGuard.enabled {
            let fb = network.fallbackPath.map { ", run on \($0)" } ?? ""
            print("  range guard: \(network.flagged) of \(network.frames) frames out of the calibrated range\(fb)")
        }
        let outside = tm.total > 0 ? (tm.total - tm.network) / tm.total * 100 : 0
        print("  time: \(String(format1: tm.total / 1000)) s wall, \(String(format1: outside)) % outside the network (network \(String(format1: tm.network / 1000)) s, score \(String(format1: tm.score / 1000)) s, metrics \(String(format1: tm.metrics / 1000)) s, waiting for decode/resize \(String(format1: tm.prefetchWait / 1000)) s; decode \(String(format1: tm.decode / 1000)) s and resize \(String(format1: tm.resize / 1000)) s of work, overlapped with the network)")
    }

    private func scoreLabel(_ s: AnomalyScore) -> String {
        if case .msp(let t) = s { return "MSP (T = \(t))" }
        return ["maxlogit": "MaxLogit", "maxentropy": "MaxEntropy", "void": "Void"][s.name] ?? s.name
    }
}
