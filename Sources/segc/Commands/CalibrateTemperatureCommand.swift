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
        // Logits of the sampled labelled pixels, [n, c], and their labels.
        var z: [Float] = [], y: [Int] = []
        for (i, f) in frames.enumerated() {
            var x = try Image.networkInput(contentsOf: f.image, channels: model.inputShape[1], width: w, height: h)
            meta.normalise(&x)
            let logits = try session.run(x)
            let mask = try ds.loadLabel(f, width: ow, height: oh)
            for r in stride(from: 0, to: oh, by: pixelStride) {
                for col in stride(from: 0, to: ow, by: pixelStride) {
                    let p = r * ow + col
                    let label = Int(mask.values[p])
                    guard label < 19, label < c else { continue }
                    for k in 0..<c { z.append(logits[k * oh * ow + p]) }
                    y.append(label)
                }
            }
            bar.update(i + 1, frames.count)
        }
        guard !y.isEmpty else { throw SegcError(.mismatch, "no labelled pixels (train ids 0–18) in the frames used", file: dataset) }
        let fit = TemperatureFit(logits: z, labels: y, classes: c)
        let before = fit.nll(beta: 1 / meta.temperature)
        let t = fit.solve()
        let after = fit.nll(beta: 1 / t)
        planFile.metadata.temperature = t
        let dest = output ?? plan
        try PlanWriter.write(planFile, to: dest)
        if global.json {
            print(JSON.object([("temperature", .double(t)), ("nll_before", .double(before)), ("nll_after", .double(after)),
                               ("frames", .int(frames.count)), ("pixels", .int(y.count)), ("output", .string(dest))]).text)
        } else {
            print("T = \(t) (NLL \(before) -> \(after)) from \(y.count) pixels of \(frames.count) frames; wrote \(dest)")
        }
    }
}

/// Mean NLL of softmax(β·z) and its minimisation over β = 1/T (convex in β).
struct TemperatureFit {
    let logits: [Float]
    let labels: [Int]
    let classes: Int

    /// (f, f', f'') at β, in Double: f = mean(logsumexp(βz) − β·z_y),
    /// f' = mean(E_p[z] − z_y), f'' = mean(Var_p[z]) with p = softmax(βz).
    func derivatives(beta: Double) -> (Double, Double, Double) {
        var f = 0.0, g = 0.0, hsum = 0.0
        let n = labels.count
        logits.withUnsafeBufferPointer { z in
            for i in 0..<n {
                let row = i * classes
                var m = -Double.infinity
                for k in 0..<classes { m = max(m, beta * Double(z[row + k])) }
                var s = 0.0, ez = 0.0, ez2 = 0.0
                for k in 0..<classes {
                    let v = Double(z[row + k])
                    let e = _exp(beta * v - m)
                    s += e; ez += e * v; ez2 += e * v * v
                }
                let mean = ez / s
                let zy = Double(z[row + labels[i]])
                f += m + _log(s) - beta * zy
                g += mean - zy
                hsum += ez2 / s - mean * mean
            }
        }
        return (f / Double(n), g / Double(n), hsum / Double(n))
    }

    func nll(beta: Double) -> Double { derivatives(beta: beta).0 }

    /// Safeguarded Newton on β: a Newton step, halved until the NLL does not increase,
    /// β kept positive; stops when T = 1/β changes by less than 1e-4.
    func solve() -> Double {
        var beta = 1.0
        var (f, g, h) = derivatives(beta: beta)
        for _ in 0..<100 {
            var step = h > 1e-12 ? -g / h : -g
            var next = beta + step
            var fn = next > 0 ? nll(beta: next) : .infinity
            var tries = 0
            while (next <= 0 || fn > f) && tries < 40 {
                step /= 2; next = beta + step
                fn = next > 0 ? nll(beta: next) : .infinity
                tries += 1
            }
            if next <= 0 || fn > f { break }
            let done = abs(1 / next - 1 / beta) < 1e-4
            beta = next
            (f, g, h) = derivatives(beta: beta)
            if done { break }
        }
        return 1 / beta
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _exp(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
#endif
