import ArgumentParser
import SegcCompiler
import SegcCore
import SegcPlan
import SegcQuantize
import SegcRuntime
import SegcTorch
#if canImport(Glibc)
import Glibc
#endif

/// `segc quantize`: int8 post-training quantization with calibration (product.md §3.5).
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize an fp32 plan (or a model) to int8 with calibration images.",
        discussion: """
        Examples:
          segc quantize erfnet.segc --calib ../shared/data/cityscapes/leftImg8bit/val   # -> erfnet.int8.segc
          segc quantize erfnet.segc --calib ../shared/data/fs_static/images --method entropy --json
          segc quantize ../shared/models/midenet_distilled.pth --calib frames/ -o mide.int8.segc
          segc quantize enet.segc --calib frames/ --fp32-layers none          # every conv in int8
          segc quantize midenet.segc --calib frames/ --target-each-image      # >= 98 % on every image, not on average
          segc quantize erfnet.segc --calib frames/ --fp32-layers none --equalize   # all-int8, channel ranges evened first
          segc quantize erfnet.segc --stats erfnet.int8.segc --method entropy --fp32-layers none -o e2.segc
                                                        # another method from the stored histograms, no images
        Weights are int8 per output channel, activations uint8 per tensor, biases int32; the
        logits come out in float32. If the all-int8 plan agrees with the fp32 plan on fewer than
        --target-agreement of the calibration pixels (argmax; with --target-each-image, on the
        worst single image), the most sensitive convolutions return to fp32 (precision "mixed"). The calibration histograms are kept in the plan's
        STAT section. On any error no output file is written.
        """)

    @Argument(help: "An fp32 .segc plan or a model (.pth / .onnx), converted first.")
    var model: String

    @Option(help: "Folder of calibration images (searched recursively; datasets give their input images).")
    var calib: String?

    @Option(help: "Reuse the calibration histograms (STAT section) of an int8 plan quantized from the same fp32 plan.")
    var stats: String?

    @Option(help: "Calibration images used (evenly spaced over the sorted files).")
    var calibCount: Int = Self.defaultCalibCount

    @Option(help: "Range method: minmax, percentile, entropy or mse.")
    var method: String = Self.defaultMethod

    @Option(help: "Percentile of the percentile method.")
    var percentile: Double = Self.defaultPercentile

    @Option(help: "Widen every activation range by this factor (>= 1), so content beyond the calibration images (anomalies) is not clipped; costs resolution.")
    var headroom: Double = 1

    @Option(help: "Conv layers kept in fp32 (names from `segc inspect --layers`), or 'none'; default: chosen by sensitivity.")
    var fp32Layers: String?

    @Option(help: "Argmax agreement with the fp32 plan the mixed-precision search aims for.")
    var targetAgreement: Double = 0.98

    @Flag(help: "The target must hold on every calibration image (the worst one), not on their mean.")
    var targetEachImage = false

    @Flag(help: "Do not keep the calibration histograms and channel means (STAT section) in the plan: ERFNet's plan 1.81 -> 1.64 MB, but --stats cannot reuse it.")
    var noStats = false

    @Flag(help: "Do not fold the int8 convs' mean output error into their biases (bias correction).")
    var noBiasCorrection = false

    @Option(help: "What bias correction corrects: weights (the rounded weights' error), local (also each conv's input grid, one more fp32 run per image) or sequential (everything upstream, layer by layer: one int8 run per image and conv).")
    var biasCorrection: String = BiasCorrection.Mode.weights.rawValue

    @Flag(help: "Equalize the activation channel ranges before calibrating: conv weights rescaled across tied channels, residual streams included (same fp32 function; needs --calib).")
    var equalize = false

    @Option(help: "With --equalize: s = r^alpha / w^(1-alpha) (r: relative channel range, w: the reading convs' relative weight range).")
    var equalizeAlpha: Double = ChannelEqualization.Options().alpha

    @Option(help: "With --equalize: no channel is scaled by more than this factor (or less than its inverse).")
    var equalizeClamp: Double = ChannelEqualization.Options().clamp

    @Option(help: "How conv weights are rounded onto their int8 grids: nearest, or gptq (each rounding error spread over the not-yet-rounded weights of its output channel through the inverse Hessian of the conv's fp32 inputs on the calibration images; needs --calib).")
    var weightRounding: String = WeightRounding.nearest.rawValue

    @Option(name: .short, help: "Output plan (default: ./<stem>.int8.segc).")
    var output: String?

    @Option(help: "Architecture, when MODEL is a checkpoint.")
    var arch: String?

    @Option(help: "Input size HxW, when MODEL is a checkpoint.")
    var inputSize: InputSize?

    @OptionGroup var globalOptions: GlobalOptions

    func validate() throws {
        if calib == nil && stats == nil { throw ValidationError("give --calib DIR, or --stats PLAN (with --fp32-layers)") }
        if calib == nil && fp32Layers == nil {
            throw ValidationError("--stats without --calib cannot measure sensitivity: give --fp32-layers (names or 'none')")
        }
        if calibCount < 1 { throw ValidationError("--calib-count must be at least 1") }
        if BiasCorrection.Mode(rawValue: biasCorrection) == nil {
            throw ValidationError("unknown --bias-correction '\(biasCorrection)' (weights, local, sequential)")
        }
        if WeightRounding(rawValue: weightRounding) == nil {
            throw ValidationError("unknown --weight-rounding '\(weightRounding)' (nearest, gptq)")
        }
        if weightRounding == WeightRounding.gptq.rawValue && calib == nil {
            throw ValidationError("--weight-rounding gptq needs --calib (it measures each conv's inputs on the images)")
        }
        if !["minmax", "percentile", "entropy", "mse"].contains(method) {
            throw ValidationError("unknown --method '\(method)' (minmax, percentile, entropy, mse)")
        }
        if !(percentile > 50 && percentile <= 100) { throw ValidationError("--percentile must be in (50, 100]") }
        if !(headroom >= 1 && headroom <= 16) { throw ValidationError("--headroom must be in [1, 16]") }
        if !(targetAgreement >= 0 && targetAgreement <= 1) { throw ValidationError("--target-agreement must be in [0, 1]") }
        if equalize && (calib == nil || stats != nil) {
            throw ValidationError("--equalize needs --calib and no --stats (it measures the channel ranges on the images, and stored histograms describe unequalized activations)")
        }
        if !(equalizeAlpha >= 0 && equalizeAlpha <= 1) { throw ValidationError("--equalize-alpha must be in [0, 1]") }
        if !(equalizeClamp >= 1) { throw ValidationError("--equalize-clamp must be at least 1") }
    }

    /// Defaults of `--calib-count`, `--method` and `--percentile` (also `reproduce`'s).
    static let defaultCalibCount = 100
    static let defaultMethod = "mse"
    static let defaultPercentile = 99.99

    /// The int8 conv kernel this machine would run the plan with when it is one without
    /// VNNI (exact `vpmaddwd` pairs: about fp32 speed but for the Winograd 3x1 / 1x3 / 3x3 convs,
    /// Docs/Notes.md), else nil.
    static var slowInt8Kernel: String? {
        let kernel = KernelLevel.int8ConvKernel
        return kernel.hasSuffix("vpmaddwd") ? kernel : nil
    }

    var calibrationMethod: CalibrationMethod { Self.calibrationMethod(method, percentile: percentile) }

    /// The `--method` named `name` (validated: minmax, percentile, entropy, mse).
    static func calibrationMethod(_ name: String, percentile: Double) -> CalibrationMethod {
        switch name {
        case "minmax": return .minmax
        case "entropy": return .entropy
        case "mse": return .mse
        default: return .percentile(percentile)
        }
    }

    func run() throws {
        let started = ContinuousClock.now
        let (plan, bytesBefore) = try FP32PlanInput.load(model, arch: arch, inputSize: inputSize, verb: "quantized")
        let images = try calib.map { try CalibrationImages($0, count: calibCount, plan: plan) }
        let imageCount = images?.files.count ?? 0
        let quiet = globalOptions.quiet
        if let calib, imageCount < 2 && !quiet {
            FileHandleOut.stderr("warning: \(calib): calibrating on a single image; ranges will not generalise")
        }
        var opts = Quantizer.Options()
        opts.method = calibrationMethod
        opts.targetAgreement = targetAgreement
        opts.headroom = Float(headroom)
        opts.targetEachImage = targetEachImage
        opts.threads = globalOptions.threads ?? 0
        opts.biasCorrection = !noBiasCorrection
        opts.biasCorrectionMode = BiasCorrection.Mode(rawValue: biasCorrection) ?? .weights
        if let stats {
            let stored = try StatSection.stored(in: try FileBytes(contentsOf: stats), for: plan)
            opts.storedHistograms = stored.histograms
            opts.storedChannelMeans = stored.channelMeans
        }
        opts.weightRounding = WeightRounding(rawValue: weightRounding) ?? .nearest
        if equalize { opts.equalization = ChannelEqualization.Options(alpha: equalizeAlpha, clamp: equalizeClamp) }
        if let fp32Layers {
            opts.fp32Layers = fp32Layers == "none" ? [] : fp32Layers.split(separator: ",").map { String($0).trimmingSpaces }
        }
        let out = output ?? "./\(Compiler.stem(model)).int8.segc"
        let (q, data, result) = try Self.quantize(plan, file: model, images: images, options: opts, methodName: method,
                                                  percentile: percentile, calib: calib, stats: stats, out: out, quiet: quiet,
                                                  keepStats: !noStats)
        try AtomicFile.write(out, bytes: data)
        if !quiet, let kernel = Self.slowInt8Kernel {
            // Both vpmaddwd kernels run the integer Winograd convs (quant/qconv.c).
            FileHandleOut.stderr("note: this CPU has no VNNI (int8 kernel \(kernel)): int8 convs run about as fast as fp32 here, except stride-1 3x1, 1x3 and 3x3 ones (integer Winograd; measured: ERFNet 0.50-0.65x its fp32 time, BiSeNetV1 0.75x, ENet 0.77x, MiDE-Net 0.69x); CPUs with AVX-VNNI or AVX-512 VNNI run int8 plans in 0.3-0.45x of the fp32 time")
        }
        if !quiet, !targetEachImage, fp32Layers == nil, result.calibAgreementMin < targetAgreement {
            // The default target is the mean (product.md §3.5); frames as hard as the worst
            // calibration image may then fall below it (MiDE-Net: 95 % on one Cityscapes frame).
            FileHandleOut.stderr("note: the worst calibration image agrees on \(String(format2: 100 * result.calibAgreementMin)) %, below --target-agreement \(targetAgreement) (which holds on the mean); --target-each-image returns convs to fp32 until every image reaches it")
        }
        let seconds = Double((ContinuousClock.now - started).components.seconds)
            + Double((ContinuousClock.now - started).components.attoseconds) / 1e18

        if globalOptions.json {
            print(JSON.object([
                ("output", .string(out)), ("precision", .string(q.metadata.precision)), ("method", .string(method)),
                ("calib_images", .int(imageCount)),
                ("fp32_layers", .array(result.fp32Layers.map { .string($0) })),
                ("calib_agreement", result.calibAgreement.isNaN ? .null : .double(result.calibAgreement)),
                ("calib_agreement_min", result.calibAgreementMin.isNaN ? .null : .double(result.calibAgreementMin)),
                ("calib_worst_image", result.calibWorstImage.flatMap { images?.files[$0] }.map { .string($0) } ?? .null),
                ("sensitivity", .array(result.sensitivity.map { .object([("layer", .string($0.layer)), ("agreement", .double($0.agreement))]) })),
                ("bytes_before", .int(bytesBefore)), ("bytes_after", .int(data.count)), ("seconds", .double(seconds)),
                ("calibration_seconds", .double(result.calibrationSeconds)), ("headroom", .double(headroom)),
                ("weight_rounding", .string(weightRounding)), ("weight_rounding_seconds", .double(result.weightRoundingSeconds)),
                ("bias_correction_mode", result.biasCorrection.map { .string($0.rawValue) } ?? .null),
                ("int8_kernel", .string(KernelLevel.int8ConvKernel)),
                ("equalized_groups", result.equalization.map { .int($0.groups) } ?? .null),
                ("equalized_values", result.equalization.map { .int($0.values.count) } ?? .null),
                ("range_guard_tensors", .int(q.metadata.rangeGuard.count)),
            ]).text)
            return
        }
        print("\(out): \(q.metadata.precision), \(method) on \(imageCount) images\(stats == nil ? "" : " + stored histograms"), \(String(format2: Double(bytesBefore) / 1e6)) MB -> \(String(format2: Double(data.count) / 1e6)) MB")
        if !result.calibAgreement.isNaN {
            let worst = result.calibWorstImage.flatMap { images?.files[$0] }.map { ": \($0)" } ?? ""
            print("  argmax agreement with fp32 on the calibration images: \(String(format2: 100 * result.calibAgreement)) % (worst image \(String(format2: 100 * result.calibAgreementMin)) %\(worst))")
        }
        if !result.fp32Layers.isEmpty { print("  fp32 layers: \(result.fp32Layers.joined(separator: ", "))") }
        if !q.metadata.rangeGuard.isEmpty {
            print("  range guard: \(q.metadata.rangeGuard.count) uint8 tensors measured on the calibration images (run/eval/stream --guard, --fallback, --fallback-float)")
        }
    }
}

extension QuantizeCommand {
    /// Quantizes the fp32 `plan` (read from `file`) on `images` (or stored histograms) and
    /// returns the int8/mixed plan with its metadata and STAT section, serialized and read
    /// back (`out` names it in errors). Shared with `reproduce` (Table 4–5's int8 rows).
    static func quantize(_ plan: PlanFile, file: String, images: CalibrationImages?, options opts: Quantizer.Options,
                         methodName: String, percentile: Double, calib: String?, stats: String?, out: String,
                         quiet: Bool, keepStats: Bool = true) throws -> (plan: PlanFile, data: [UInt8], result: Quantizer.Result) {
        let imageCount = images?.files.count ?? 0
        let bar = StageProgress(quiet: quiet)
        let result: Quantizer.Result
        do {
            result = try Quantizer.quantize(plan, count: imageCount, options: opts, input: { try images!.input($0) },
                                            progress: { bar.update($0, $1, $2) })
        } catch {
            throw naming(error, file)
        }
        var q = result.plan
        q.metadata.quantization = .object([
            "method": .string(methodName), "percentile": methodName == "percentile" ? .number(percentile) : .null,
            "calib": calib.map { .string($0) } ?? .null, "stats": stats.map { .string($0) } ?? .null,
            "calib_images": .number(Double(imageCount)),
            "fp32_layers": .array(result.fp32Layers.map { .string($0) }),
            "calib_agreement": result.calibAgreement.isNaN ? .null : .number(result.calibAgreement),
            "calib_agreement_min": result.calibAgreementMin.isNaN ? .null : .number(result.calibAgreementMin),
            "target_each_image": .bool(opts.targetEachImage),
            "headroom": .number(Double(opts.headroom)),
            "bias_correction": .bool(result.biasCorrection != nil),
            "bias_correction_mode": result.biasCorrection.map { .string($0.rawValue) } ?? .null,
            "equalization": opts.equalization.map { .object(["alpha": .number($0.alpha), "clamp": .number($0.clamp),
                                                             "groups": .number(Double(result.equalization?.groups ?? 0))]) } ?? .null,
            // GPTQ is named only when used, so a default plan's bytes stay what they were.
            "weights": .string(opts.weightRounding == .nearest ? "int8 symmetric per output channel"
                                                               : "int8 symmetric per output channel, \(opts.weightRounding.rawValue) rounding"), "activations": .string("uint8 asymmetric per tensor"),
        ])
        let stat = keepStats ? [PlanExtraSection(tag: StatSection.tag, required: false,
                                                 bytes: StatSection.encode(result.calibration, sourceGraph: try StatSection.graphID(plan)))] : []
        let data: [UInt8]
        do {
            data = try PlanWriter.serialize(q, extraSections: stat)
            _ = try PlanReader.read(FileBytes(bytes: data, name: out))
        } catch {
            throw naming(error, out)
        }
        return (q, data, result)
    }

    /// A `SegcError` without a file names `file`; anything else passes through.
    static func naming(_ error: any Error, _ file: String) -> any Error {
        guard let e = error as? SegcError, e.file == nil else { return error }
        return e.inFile(file)
    }
}

/// One progress bar per stage (calibrate, check, sensitivity, mixed).
private final class StageProgress {
    let quiet: Bool
    var stage = ""
    var bar: ProgressBar?
    init(quiet: Bool) { self.quiet = quiet }
    func update(_ s: String, _ done: Int, _ total: Int) {
        if s != stage || bar == nil { stage = s; bar = ProgressBar(s, quiet: quiet) }
        bar?.update(done, total)
    }
}

private extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
