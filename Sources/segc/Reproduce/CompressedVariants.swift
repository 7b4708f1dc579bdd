import SegcCore
import SegcEval
import SegcPlan
import SegcQuantize

/// Tables 4–5's compressed rows: the checkpoint's plan pruned and/or quantized by the same
/// code as `segc prune` / `segc quantize`, written to the output folder under the names
/// those commands would give, and reused by later runs (delete them to derive again).
/// Each derived plan comes with the commands that make it, so every figure of its rows
/// can be reproduced on its own.
final class CompressedVariants {
    let outDir: String
    let calibDir: String
    let threads: Int
    let quiet: Bool
    let note: (String) -> Void
    /// Plans written by this run (the pruned plan is asked for again by pruned + int8).
    private var made: Set<String> = []

    init(outDir: String, calibDir: String, threads: Int, quiet: Bool, note: @escaping (String) -> Void) {
        self.outDir = outDir; self.calibDir = calibDir; self.threads = threads; self.quiet = quiet; self.note = note
    }

    /// The plan file of `ref` (a compressed variant of the checkpoint at `checkpoint`) and
    /// the shell commands that produce it.
    func plan(_ ref: ModelRef, checkpoint: String) throws -> (path: String, recipe: String) {
        let q = ReproduceRun.shellQuote
        let path = outDir + "/" + ref.key + ".segc"
        if ref.variant != .fp32 { try makeDirectories(outDir) }
        let calib = q(calibDir)
        let recipe: String
        switch ref.variant {
        case .fp32:
            return (checkpoint, "")
        case .pruned:
            recipe = "segc prune \(q(checkpoint)) --ratio \(PaperLayout.pruneRatio) --global --calib \(calib) -o \(q(path))"
            if !reuse(path) {
                let (base, _) = try FP32PlanInput.load(checkpoint, arch: nil, inputSize: nil, verb: "pruned")
                let pruned = try PruneCommand.prune(base, file: checkpoint, ratio: PaperLayout.pruneRatio, global: true,
                                                    calib: calibDir, threads: threads, quiet: quiet)
                try AtomicFile.write(path, bytes: pruned.data)
                made.insert(path)
            }
        case .int8, .prunedInt8:
            var source = checkpoint, before = ""
            if ref.variant == .prunedInt8 {
                (source, before) = try plan(ref.with(.pruned, name: ref.name), checkpoint: checkpoint)
                before += " && "
            }
            recipe = before + "segc quantize \(q(source)) --calib \(calib) -o \(q(path))"
            if !reuse(path) {
                let (base, _) = try FP32PlanInput.load(source, arch: nil, inputSize: nil, verb: "quantized")
                let images = try CalibrationImages(calibDir, count: QuantizeCommand.defaultCalibCount, plan: base)
                var options = Quantizer.Options()
                options.method = QuantizeCommand.calibrationMethod(QuantizeCommand.defaultMethod, percentile: QuantizeCommand.defaultPercentile)
                options.threads = threads
                let quantized = try QuantizeCommand.quantize(base, file: source, images: images, options: options,
                                                             methodName: QuantizeCommand.defaultMethod,
                                                             percentile: QuantizeCommand.defaultPercentile, calib: calibDir,
                                                             stats: nil, out: path, quiet: quiet)
                try AtomicFile.write(path, bytes: quantized.data)
                made.insert(path)
            }
        }
        return (path, recipe)
    }

    private func reuse(_ path: String) -> Bool {
        if made.contains(path) { return true }
        guard fileExists(path) else { return false }
        note("\(path): reusing the plan of an earlier run (delete it to derive it again)")
        return true
    }
}
