import ArgumentParser
import SegcCompiler
import SegcCore
import SegcIR
import SegcLower
import SegcPlan
import SegcPrune
import SegcRuntime
import SegcEval
import SegcTorch

/// `segc prune`: structured pruning that removes channels from the graph (issue 15).
/// Takes an fp32 plan (lifted back to the IR) or a model (converted first).
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove the least important channels of a plan or model (structured L2 pruning).",
        discussion: """
        Examples:
          segc prune erfnet.segc --ratio 0.3                    # -> erfnet_pruned.segc
          segc prune ../shared/models/midenet_distilled.pth --ratio 0.3 -o mide30.segc --json
          segc prune erfnet.segc --ratio 0.3 --global
        Channels are removed in dependency groups (a conv's outputs with every reader, residual
        chains, pool indices with their unpool); groups that feed the network's output, concat
        members and grouped convs are left alone. Importance: each producer's squared filter
        norms, normalised within the group. --calib DIR refits, without training, every conv and
        transposed conv whose input lost channels so that its linear output on the calibration images matches the
        unpruned network's (ridge least squares, biases re-estimated; one pass per image).
          segc prune erfnet.segc --ratio 0.3 --calib ../shared/data/fs_static/images
        """)

    @Argument(help: "A .segc plan (fp32) or a model (.pth / .onnx).")
    var model: String

    @Option(help: "Fraction of each group's channels to remove, in [0, 1).")
    var ratio: Double

    @Flag(help: "Rank channels across groups (importance divided by the group's mean).")
    var global = false

    @Option(help: "Folder of calibration images: refit the convs (and transposed convs) that lost input channels by ridge least squares.")
    var calib: String?

    @Option(help: "Calibration images used (evenly spaced over the sorted folder).")
    var calibCount: Int = Self.defaultCalibCount

    @Option(help: "Ridge strength, relative to the mean diagonal of the normal equations.")
    var ridge: Double = Self.defaultRidge

    @Option(name: .short, help: "Output plan (default: <stem>_pruned.segc).")
    var output: String?

    @Option(help: "Architecture, when MODEL is a checkpoint.")
    var arch: String?

    @Option(help: "Input size HxW, when MODEL is a checkpoint.")
    var inputSize: InputSize?

    @OptionGroup var globalOptions: GlobalOptions

    func validate() throws {
        if !(ratio >= 0 && ratio < 1) { throw ValidationError("--ratio must be in [0, 1), got \(ratio)") }
        if calibCount < 1 { throw ValidationError("--calib-count must be at least 1") }
        if !(ridge > 0 && ridge.isFinite) { throw ValidationError("--ridge must be a positive number") }
    }

    struct Stats { var macs: Int; var flops: Int; var parameters: Int; var bytes: Int }

    static func stats(_ plan: PlanFile, bytes: Int) -> Stats {
        let (macs, flops) = GraphStats.macsAndFlops(plan.graph)
        var refs = Set<Int>(), params = 0
        for op in plan.graph.ops { for w in op.weights where refs.insert(w.offset).inserted { params += w.shape.reduce(1, *) } }
        return Stats(macs: macs, flops: flops, parameters: params, bytes: bytes)
    }

    /// Defaults of `--calib-count` and `--ridge` (also `reproduce`'s).
    static let defaultCalibCount = 8
    static let defaultRidge = 1e-3

    /// Prunes `before` (an fp32 plan read from `file`) and returns the pruned plan, serialized
    /// and verified, with what was removed. `calib`: images that drive the least-squares
    /// recovery. Shared with `reproduce` (Table 4–5's pruned rows).
    static func prune(_ before: PlanFile, file: String, ratio: Double, global: Bool, calib: String?, calibCount: Int = defaultCalibCount,
                      ridge: Double = defaultRidge, threads: Int, quiet: Bool) throws -> (plan: PlanFile, data: [UInt8], result: ChannelPruning.Result) {
        let graph: Graph
        let result: ChannelPruning.Result
        do throws(SegcError) {
            graph = try Lifting.lift(before)
            result = try ChannelPruning.prune(graph, options: .init(ratio: ratio, global: global))
        } catch { throw error.inFile(file) }
        var prunedGraph = result.graph
        if let calib {
            let inputs = try calibrationInputs(calib, count: calibCount, plan: before)
            let bar = ProgressBar("recover", quiet: quiet)
            prunedGraph = try LeastSquaresRecovery.recover(original: graph, pruned: result.graph, result: result,
                                                           metadata: before.metadata, inputs: inputs, ridge: ridge,
                                                           threads: threads, progress: { bar.update($0, $1) })
        }
        let pruned = try Lowering.lower(prunedGraph, metadata: before.metadata)
        return (pruned, try SegcImportedModel.serializeVerified(pruned, name: file), result)
    }

    func run() throws {
        let (before, beforeBytes) = try FP32PlanInput.load(model, arch: arch, inputSize: inputSize, verb: "pruned")
        let (pruned, data, result) = try Self.prune(before, file: model, ratio: ratio, global: global, calib: calib,
                                                    calibCount: calibCount, ridge: ridge, threads: globalOptions.threads ?? 0,
                                                    quiet: globalOptions.quiet)
        let out = output ?? "\(Compiler.stem(model))_pruned.segc"
        try AtomicFile.write(out, bytes: data)
        let a = Self.stats(before, bytes: beforeBytes), b = Self.stats(pruned, bytes: data.count)
        let removed = result.kept.reduce(0) { $0 + $1.before - $1.kept.count }
        let total = result.kept.reduce(0) { $0 + $1.before }
        if globalOptions.json {
            func obj(_ s: Stats) -> JSON {
                .object([("macs", .int(s.macs)), ("flops", .int(s.flops)), ("parameters", .int(s.parameters)), ("bytes", .int(s.bytes))])
            }
            print(JSON.object([("input", .string(model)), ("output", .string(out)), ("ratio", .double(ratio)),
                               ("global", .bool(global)), ("groups_pruned", .int(result.kept.count)),
                               ("channels_removed", .int(removed)), ("channels_in_pruned_groups", .int(total)),
                               ("before", obj(a)), ("after", obj(b)),
                               ("recovery", calib.map { .object([("calib", .string($0)), ("images", .int(calibCount)),
                                                                 ("ridge", .double(ridge))]) } ?? .null)]).text)
            return
        }
        func row(_ name: String, _ x: Int, _ y: Int, scale: Double, unit: String) -> String {
            let pct = x > 0 ? 100 * Double(y - x) / Double(x) : 0
            return "  \(name.padding(toLength: 11, withPad: " ", startingAt: 0)) \(String(format2: Double(x) / scale).leftPad(10)) \(unit)  ->  \(String(format2: Double(y) / scale).leftPad(10)) \(unit)  (\(String(format2: pct))%)"
        }
        print("\(out): \(removed) of \(total) channels removed in \(result.kept.count) groups (ratio \(ratio)\(global ? ", global" : ""))")
        print(row("MACs", a.macs, b.macs, scale: 1e9, unit: "G"))
        print(row("FLOPs", a.flops, b.flops, scale: 1e9, unit: "G"))
        print(row("parameters", a.parameters, b.parameters, scale: 1e6, unit: "M"))
        print(row("bytes", a.bytes, b.bytes, scale: 1e6, unit: "MB"))
    }
}

extension PruneCommand {
    /// Up to `count` calibration images of `dir`, preprocessed as the plan says.
    static func calibrationInputs(_ dir: String, count: Int, plan: PlanFile) throws -> [[Float]] {
        let images = try CalibrationImages(dir, count: count, plan: plan)
        return try images.files.indices.map { try images.input($0) }
    }
}

private extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
