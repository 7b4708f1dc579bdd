import ArgumentParser
import SegcCore
import SegcPlan
import SegcRuntime
import SegcEval

struct CalibrateTemperatureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate-temperature",
        abstract: "Fit the softmax temperature on labelled Cityscapes pixels and store it in the plan.",
        discussion: """
        Examples:
          segc calibrate-temperature erfnet.segc --dataset ../shared/data/cityscapes
          segc calibrate-temperature erfnet.segc --dataset cityscapes --count 20 --pixel-stride 8 -o erfnet.t.segc --json
        Minimises the mean negative log-likelihood of softmax(z / T) over train ids 0–18 (255
        ignored) on every S-th row and column of the first N frames (sorted). NLL is convex in
        1/T; a safeguarded Newton iteration on 1/T stops when T changes by < 1e-4. The plan is
        rewritten atomically in place unless -o is given; only its metadata changes. The stored T
        becomes the default of `run --score msp` and `eval --score msp`.
        """)

    @Argument(help: "A .segc plan.") var plan: String
    @Option(help: "Cityscapes folder (leftImg8bit/, gtFine/).") var dataset: String
    @Option(help: "Frames to use (default 50).") var count = 50
    @Option(help: "Use every S-th row and column (default 4).") var pixelStride = 4
    @Option(name: .short, help: "Output plan (default: rewrite PLAN in place).") var output: String?
    @Option(help: "Split (default val).") var split = "val"
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be ≥ 1") }
        if pixelStride < 1 || pixelStride > 64 { throw ValidationError("--pixel-stride must be between 1 and 64") }
    }

    func run() throws {
        let bytes = try FileBytes(contentsOf: plan)
        var planFile = try PlanReader.read(bytes)
        let model = try SegcModel(plan: planFile)
        let session = try SegcSession(model: model, threads: global.threads ?? 0)
        guard model.inputShape.count == 4, model.outputShape.count == 4 else {
            throw SegcError(.unsupported, "calibration needs an NCHW input and [1,C,H,W] logits (output \(model.outputShape))", file: plan)
        }
        let ds = try Dataset(directory: dataset, kind: .cityscapes, split: split)
        let (h, w) = (model.inputShape[2], model.inputShape[3])
        let (oh, ow) = (model.outputShape[2], model.outputShape[3])
        let c = model.classes
        let meta = planFile.metadata
        let frames = Array(ds.frames.prefix(count))
        let bar = ProgressBar("calibrate", quiet: global.quiet)
        var samples = TemperatureSamples(classes: c, pixelStride: pixelStride)
        for (i, f) in frames.enumerated() {
            var x = try Image.networkInput(contentsOf: f.image, channels: model.inputShape[1], width: w, height: h)
            meta.normalise(&x)
            let logits = try session.run(x)
            let mask = try ds.loadLabel(f, width: ow, height: oh)
            try samples.add(logits: Array(logits), mask: mask)
            bar.update(i + 1, frames.count)
        }
        guard samples.count > 0 else { throw SegcError(.mismatch, "no labelled pixels (train ids 0–18) in the frames used", file: dataset) }
        let fit = samples.fit
        let before = fit.nll(beta: 1 / meta.temperature)
        let t = fit.solve()
        let after = fit.nll(beta: 1 / t)
        planFile.metadata.temperature = t
        let dest = output ?? plan
        try PlanWriter.write(planFile, to: dest)
        if global.json {
            print(JSON.object([("temperature", .double(t)), ("nll_before", .double(before)), ("nll_after", .double(after)),
                               ("frames", .int(frames.count)), ("pixels", .int(samples.count)), ("output", .string(dest))]).text)
        } else {
            print("T = \(t) (NLL \(before) -> \(after)) from \(samples.count) pixels of \(frames.count) frames; wrote \(dest)")
        }
    }
}

