import ArgumentParser
import Foundation
import SegcCore
import SegcEval
import SegcPlan
import SegcRuntime

/// `segc stream PLAN SOURCE`: the deployment loop. Three stages on their own threads,
/// joined by bounded queues (one decoded frame, two inferred): decode + resize + preprocess, the
/// network (its kernels use the session's threads), score + write. Frames keep their
/// order; none is dropped unless `--drop-late`, which skips frames that waited while
/// the network was busy (counted).
struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Run a plan over a stream of frames: a folder (sorted) or concatenated PNG/JPEG on stdin.",
        discussion: """
        Examples:
          segc stream erfnet.segc ../shared/data/fs_static/images --no-write        # throughput only
          segc stream erfnet.segc frames/ --heatmap heat/ --score maxlogit --json
          cat cam/*.jpg | segc stream erfnet.segc - --segmentation seg/ --drop-late
          segc stream erfnet.int8.segc frames/ --score maxlogit -o s/ --fallback erfnet.segc
        Outputs are named after the frame (folder source) or numbered frame_000000 (stdin).
        A live line on stderr shows frames and fps; --json prints fps and per-stage latency
        percentiles (p50/p95/p99 in ms). Ctrl-C stops at once; every file already written is whole
        (files are written to a temporary name and renamed).
        """)

    @Argument(help: "A .segc plan (or a model, converted with convert's defaults first).")
    var plan: String

    @Argument(help: "A folder of images (PNG/JPEG/WebP, sorted by name) or '-' for concatenated PNG/JPEG on stdin.")
    var source: String

    @Option(help: "Anomaly score for -o and --heatmap: msp, maxlogit, maxentropy or void.")
    var score: String?

    @Option(name: .short, help: "Folder for .npy outputs: the score map with --score, else the logits.")
    var output: String?

    @Option(help: "Folder for heatmap PNGs of the score (default score msp).")
    var heatmap: String?

    @Option(help: "Folder for argmax palette PNGs.")
    var segmentation: String?

    @Flag(help: "Write nothing (measure the pipeline).")
    var noWrite = false

    @Flag(help: "Skip frames that waited while the network was busy (counted in the summary).")
    var dropLate = false

    @Option(help: "Architecture, when PLAN is a model.")
    var arch: String?

    @Option(help: "Input size HxW, when PLAN is a model.")
    var inputSize: InputSize?

    @OptionGroup var rangeGuard: RangeGuardOptions
    @OptionGroup var global: GlobalOptions
    @OptionGroup var kernelOptions: KernelOptions

    func validate() throws {
        if let score, AnomalyScore(name: score) == nil { throw ValidationError("unknown --score '\(score)' (msp, maxlogit, maxentropy, void)") }
        if noWrite && (output != nil || heatmap != nil || segmentation != nil) {
            throw ValidationError("--no-write cannot be combined with -o, --heatmap or --segmentation")
        }
    }

    func run() throws {
        try kernelOptions.apply(for: plan)
        let (model, meta) = try PlanLoader.loadWithMetadata(plan, arch: arch, size: inputSize)
        let session = try SegcSession(model: model, threads: global.threads ?? 0)
        let network = try GuardedNetwork(session: session, plan: plan, options: rangeGuard, arch: arch,
                                         threads: global.threads ?? 0, hugePages: true)
        guard model.inputShape.count == 4, model.outputShape.count == 4, model.inputShape[1] == 3 else {
            throw SegcError(.unsupported, "stream needs a plan with an RGB NCHW input", file: plan)
        }
        let frames = try FrameSource(source)
        for folder in [output, heatmap, segmentation].compactMap({ $0 }) { try Folder.create(folder) }
        let sink = FrameSink(score: score.flatMap { AnomalyScore(name: $0, temperature: Float(meta.temperature)) }
                                 ?? (heatmap != nil ? .msp(temperature: Float(meta.temperature)) : nil),
                             output: noWrite ? nil : output, heatmap: noWrite ? nil : heatmap,
                             segmentation: noWrite ? nil : segmentation, scoreIsOutput: score != nil,
                             outputShape: model.outputShape)
        let report = try StreamPipeline(network: network, meta: meta, frames: frames, sink: sink, dropLate: dropLate,
                                        live: !global.quiet && !global.json).run()
        if global.json {
            print(JSON.object([("plan", .string(plan)), ("source", .string(source))] + report.json).text)
        } else {
            print(report.summary)
        }
    }
}
