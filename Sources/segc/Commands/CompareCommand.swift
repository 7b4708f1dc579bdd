import ArgumentParser
import SegcCore
import SegcEval
import SegcPlan
import SegcQuantize
import SegcRuntime

/// `segc compare`: how closely two plans agree (a compressed plan against its fp32 plan,
/// or one kernel level against another): per-pixel argmax agreement and logit
/// differences on the same inputs.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Argmax agreement and logit differences of two plans on the same inputs.",
        discussion: """
        Examples:
          segc compare erfnet.segc erfnet.int8.segc ../shared/inputs/city1_512x1024.npy
          segc compare erfnet.segc erfnet.int8.segc ../shared/data/cityscapes --json
          segc compare erfnet.segc erfnet_pruned.segc frames/ --limit 20
        INPUT is a .npy tensor, an image, a folder of images (recursive) or a dataset (its input
        images). Both plans must take the same input shape and give the same output shape.
        """)

    @Argument(help: "The reference plan (or model).")
    var reference: String

    @Argument(help: "The plan compared with it.")
    var candidate: String

    @Argument(help: "Inputs: .npy tensors, images, folders or datasets.")
    var inputs: [String]

    @Option(help: "At most this many inputs (evenly spaced over the sorted list).")
    var limit: Int?

    @OptionGroup var kernelOptions: KernelOptions
    @OptionGroup var globalOptions: GlobalOptions

    func run() throws {
        try kernelOptions.apply(for: candidate)
        let (a, metaA) = try PlanLoader.loadWithMetadata(reference, arch: nil, size: nil)
        let (b, _) = try PlanLoader.loadWithMetadata(candidate, arch: nil, size: nil)
        guard a.inputShape == b.inputShape, a.outputShape == b.outputShape else {
            throw SegcError(.mismatch, "shapes differ: \(a.inputShape) → \(a.outputShape) against \(b.inputShape) → \(b.outputShape)", file: candidate)
        }
        var files: [String] = []
        for p in inputs {
            if isDirectory(p) {
                files += try CalibrationImages(p, count: Int.max, plan: a.plan).files
            } else {
                files.append(p)
            }
        }
        if let limit, limit > 0, files.count > limit { files = (0..<limit).map { files[$0 * files.count / limit] } }
        if files.isEmpty { throw SegcError(.usage, "no inputs") }
        let threads = globalOptions.threads ?? 0
        let sa = try SegcSession(model: a, threads: threads), sb = try SegcSession(model: b, threads: threads)
        let shape = a.inputShape, out = a.outputShape
        let bar = ProgressBar("compare", quiet: globalOptions.quiet)
        var rows: [(String, Double, Float)] = []
        var total = 0.0, worst = 1.0, maxDiff: Float = 0
        for (k, f) in files.enumerated() {
            let x = try RunCommand.loadInput(f, height: shape[2], width: shape[3], shape: shape, meta: metaA)
            let la = try sa.run(x), lb = try sb.run(x)
            let agree = Agreement.fraction(la.withUnsafeBufferPointer { Agreement.argmax($0, shape: out) },
                                           lb.withUnsafeBufferPointer { Agreement.argmax($0, shape: out) })
            var d: Float = 0
            for i in la.indices { d = max(d, abs(la[i] - lb[i])) }
            rows.append((f, agree, d))
            total += agree; worst = min(worst, agree); maxDiff = max(maxDiff, d)
            bar.update(k + 1, files.count)
        }
        let mean = total / Double(files.count)
        if globalOptions.json {
            print(JSON.object([("reference", .string(reference)), ("candidate", .string(candidate)),
                               ("inputs", .int(files.count)), ("mean_agreement", .double(mean)),
                               ("min_agreement", .double(worst)), ("max_abs_diff", .double(Double(maxDiff))),
                               ("per_input", .array(rows.map { .object([("input", .string($0.0)), ("agreement", .double($0.1)),
                                                                         ("max_abs_diff", .double(Double($0.2)))]) }))]).text)
            return
        }
        for (f, agree, d) in rows where rows.count <= 20 {
            print("  \(f): agreement \(String(format2: 100 * agree)) %, max |diff| \(d)")
        }
        print("\(candidate) vs \(reference): \(files.count) inputs, argmax agreement mean \(String(format2: 100 * mean)) %, min \(String(format2: 100 * worst)) %, max |logit diff| \(maxDiff)")
    }
}
