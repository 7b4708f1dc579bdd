import ArgumentParser
import SegcCore
import SegcCompiler
import SegcPlan
import SegcQuantize
import SegcRuntime
import SegcTorch
import SegcEval

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a plan on images or preprocessed .npy tensors; write logits, score maps, heatmaps.",
        discussion: """
        Examples:
          segc run erfnet.segc frame.png --heatmap heat.png               # MSP anomaly heatmap
          segc run erfnet.segc frame.png --overlay over.png --score maxlogit # heatmap blended over the frame
          segc run erfnet.segc frame.jpg --score maxlogit -o score.npy    # [H,W] float32 score map
          segc run erfnet.segc city1_512x1024.npy -o logits.npy           # [1,C,H,W] logits
          segc run erfnet.segc city1_512x1024.npy -o l.npy --kernels avx2 # force a kernel level
          segc run enet_void.segc a.png b.webp --score void --heatmap heat/ --segmentation seg/
          segc run erfnet.int8.segc frame.png --score maxlogit -o s.npy --fallback erfnet.segc
        Images (PNG, JPEG, WebP, by content) are converted to RGB (3-channel plans) or grey
        (1-channel plans, Pillow's convert('L')), resized to the plan's input with Pillow-identical
        BILINEAR and scaled as the plan's preprocessing says. .npy inputs are float32/float64
        [1,C,H,W] or [C,H,W] as the plan's input, already preprocessed (the only input for other
        channel counts). With several inputs, -o,
        --heatmap and --segmentation name folders (created if needed), one <stem> file per input.
        --guard reports the inputs that drive an int8 plan past its calibrated range; --fallback
        answers those with another plan (e.g. the fp32 plan that was quantized).
        """)

    @Argument(help: "A .segc plan (or a model, converted with convert's defaults first).")
    var plan: String

    @Argument(help: "Inputs: images (PNG/JPEG/WebP) or .npy tensors.")
    var inputs: [String]

    @Option(help: "Anomaly score: msp, maxlogit, maxentropy or void.")
    var score: String?

    @Option(help: "Temperature for msp (default: the plan's, 1.0 unless calibrated).")
    var temperature: Double?

    @Option(name: .short, help: "Output .npy: logits, or the score map with --score (a folder for several inputs).")
    var output: String?

    @Option(help: "Heatmap PNG of the score (default score msp), min-max normalised, inferno colours.")
    var heatmap: String?

    @Option(help: "The heatmap blended over the input frame (image inputs), PNG at the plan's output size.")
    var overlay: String?

    @Option(help: "Argmax as a palette PNG in Cityscapes train-id colours.")
    var segmentation: String?

    @Option(help: "Architecture, when PLAN is a model.")
    var arch: String?

    @Option(help: "Input size HxW, when PLAN is a model.")
    var inputSize: InputSize?

    @OptionGroup var rangeGuard: RangeGuardOptions
    @OptionGroup var global: GlobalOptions
    @OptionGroup var kernelOptions: KernelOptions

    func validate() throws {
        if let score, AnomalyScore(name: score) == nil { throw ValidationError("unknown --score '\(score)' (msp, maxlogit, maxentropy, void)") }
        if let temperature, !(temperature > 0 && temperature.isFinite) { throw ValidationError("--temperature must be a positive number") }
        if temperature != nil && score != nil && score != "msp" { throw ValidationError("--temperature applies to --score msp only") }
    }

    func run() throws {
        try kernelOptions.apply(for: plan)
        let (model, meta) = try PlanLoader.loadWithMetadata(plan, arch: arch, size: inputSize)
        // A few frames: 4 KiB pages start steadily; a folder's worth: huge pages pay back.
        let session = try SegcSession(model: model, threads: global.threads ?? 0, hugePages: inputs.count > 4)
        let network = try GuardedNetwork(session: session, plan: plan, options: rangeGuard, arch: arch,
                                         threads: global.threads ?? 0, hugePages: inputs.count > 4)
        let inShape = model.inputShape, outShape = model.outputShape
        guard inShape.count == 4 else { throw SegcError(.unsupported, "plan input is not NCHW", file: plan) }
        let (h, w) = (inShape[2], inShape[3])
        // Scores, heatmaps and segmentations read [1, C, H, W] logits; other outputs (e.g. an
        // ONNX model ending in Flatten) can only be written as they are, with -o.
        let nchw = outShape.count == 4 && outShape[0] == 1
        if !nchw && (score != nil || heatmap != nil || segmentation != nil) {
            throw SegcError(.unsupported, "the plan's output has shape \(outShape); --score, --heatmap and --segmentation need [1,C,H,W] logits", file: plan)
        }
        let (oh, ow) = nchw ? (outShape[2], outShape[3]) : (1, 1)
        let classes = nchw ? outShape[1] : 1
        let t = Float(temperature ?? meta.temperature)
        let scoreKind: AnomalyScore? = score.flatMap { AnomalyScore(name: $0, temperature: t) }
            ?? (heatmap != nil || overlay != nil ? .msp(temperature: t) : nil)
        let multi = inputs.count > 1
        if multi { for folder in [output, heatmap, overlay, segmentation].compactMap({ $0 }) { try Folder.create(folder) } }
        // A plan with several outputs (from a multi-output ONNX model): -o names a folder that
        // receives one `<name>.npy` per output (per input: `<folder>/<stem>/<name>.npy`).
        let outputFiles = Self.outputFileNames(model.outputNames)
        let perOutput = outputFiles.count > 1 && score == nil
        if perOutput, let output, !multi { try Folder.create(output) }
        func dest(_ option: String?, _ input: String, _ ext: String) -> String? {
            guard let option else { return nil }
            return multi ? "\(option)/\(Compiler.stem(input)).\(ext)" : option
        }
        var results: [JSON] = []
        // Refuse a non-image input before anything is written.
        if overlay != nil {
            for path in inputs {
                // The mapping must outlive the sniff (buffer points into it).
                let bytes = try FileBytes(contentsOf: path)
                let isImage = withExtendedLifetime(bytes) { Image.sniff(bytes.buffer) != nil }
                guard !isImage else { continue }
                throw SegcError(.unsupported, "--overlay needs an image input (PNG, JPEG or WebP), not a tensor", file: path)
            }
        }
        for path in inputs {
            let values = try Self.loadInput(path, height: h, width: w, shape: inShape, meta: meta)
            let start = ContinuousClock.now
            let logits = try values.withUnsafeBufferPointer { buf in try Array(network.run(buf)) }
            let ms = BenchCommand.ms(ContinuousClock.now - start)
            var written: [String] = []
            var stats: (name: String, min: Float, mean: Double, max: Float)?
            var scoreMap: [Float] = []
            var classMap: [Int32] = []
            if scoreKind != nil || segmentation != nil {
                (scoreMap, classMap) = try Scores.compute(scoreKind, logits: logits, classes: classes, pixels: oh * ow,
                                                          argmax: segmentation != nil)
            }
            if let scoreKind, !scoreMap.isEmpty {
                var lo = Float.infinity, hi = -Float.infinity, sum = 0.0
                for v in scoreMap { lo = min(lo, v); hi = max(hi, v); sum += Double(v) }
                stats = (scoreKind.name, lo, sum / Double(scoreMap.count), hi)
            }
            if perOutput, let output {
                let folder = multi ? "\(output)/\(Compiler.stem(path))" : output
                if multi { try Folder.create(folder) }
                for (k, name) in outputFiles.enumerated() {
                    let d = "\(folder)/\(name).npy"
                    try Npy.write(Array(try network.output(k)), shape: model.outputShapes[k], to: d)
                    written.append(d)
                }
            } else if let d = dest(output, path, "npy") {
                if score != nil { try Npy.write(scoreMap, shape: [oh, ow], to: d) } else { try Npy.write(logits, shape: outShape, to: d) }
                written.append(d)
            }
            if let d = dest(heatmap, path, "png") {
                try PNGWriter.write(try Visualization.heatmap(scores: scoreMap, width: ow, height: oh), to: d)
                written.append(d)
            }
            if let d = dest(overlay, path, "png") {
                // The frame as the network saw it (RGB, Pillow bilinear), at the score map's size.
                let frame = try Image.decode(contentsOf: path).convertedToRGB().resized(width: ow, height: oh, filter: .bilinear)
                try PNGWriter.write(try Visualization.overlay(scores: scoreMap, on: frame), to: d)
                written.append(d)
            }
            if let d = dest(segmentation, path, "png") {
                try PNGWriter.write(try Visualization.segmentation(classes: classMap, width: ow, height: oh), to: d)
                written.append(d)
            }
            if global.json {
                let scoreJSON: JSON = stats.map {
                    .object([("score", .string($0.name)), ("min", .double(Double($0.min))), ("mean", .double($0.mean)),
                             ("max", .double(Double($0.max)))])
                } ?? .null
                var fields: [(String, JSON)] = [("input", .string(path)), ("output_shape", .ints(outShape)), ("ms", .double(ms)),
                                                ("outputs", .strings(written)), ("score", scoreJSON)]
                if rangeGuard.enabled {
                    fields.append(("range_guard", .object([
                        ("out_of_range", .bool(!network.lastExcesses.isEmpty)), ("fallback_used", .bool(network.lastUsedFallback)),
                        ("tensors", .array(network.lastExcesses.map {
                            .object([("layer", .string($0.layer)), ("saturated", .int($0.saturated)), ("limit", .int($0.limit)),
                                     ("calibration_max", .int($0.calibrationMax))])
                        }))])))
                }
                results.append(.object(fields))
            } else {
                var line = "\(path): logits \(outShape) in \(String(format2: ms)) ms"
                if let s = stats { line += ", \(s.name) min \(s.min) mean \(s.mean) max \(s.max)" }
                if !written.isEmpty { line += " -> " + written.joined(separator: ", ") }
                print(line)
                if rangeGuard.enabled {
                    let used = network.lastUsedFallback ? "; logits from \(network.fallbackPath ?? "")" : ""
                    print("  range guard: \(GuardedNetwork.describe(network.lastExcesses))\(used)")
                }
            }
        }
        if global.json { print(JSON.object([("plan", .string(plan)), ("inputs", .array(results))]).text) }
    }

    /// File names (without `.npy`) for the plan's outputs: the output names with every
    /// character outside [A-Za-z0-9._-] replaced by `_` (ONNX names such as `/head/Conv_output_0`
    /// must not escape the folder), `output<k>` for an empty or duplicate name.
    static func outputFileNames(_ names: [String]) -> [String] {
        var used = Set<String>()
        return names.enumerated().map { k, n in
            var s = String(n.map { c -> Character in
                c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "_"
            })
            if s.isEmpty || s.allSatisfy({ $0 == "." }) || used.contains(s) { s = "output\(k)" }
            used.insert(s)
            return s
        }
    }

    /// An image (decoded, RGB, Pillow bilinear to the plan's size, plan preprocessing)
    /// or a preprocessed .npy tensor.
    static func loadInput(_ path: String, height h: Int, width w: Int, shape: [Int], meta: PlanMetadata) throws -> [Float] {
        let bytes = try FileBytes(contentsOf: path)
        if Image.sniff(bytes.buffer) != nil {
            if shape.first ?? 1 != 1 {
                throw SegcError(.unsupported, "the plan's input has batch \(shape[0]); images feed batch-1 plans, give a [\(shape.map(String.init).joined(separator: ","))] .npy tensor", file: path)
            }
            // Grey (1-channel) or RGB (3-channel) plans only; the error says so otherwise.
            var v = try Image.networkInput(contentsOf: path, channels: shape.count == 4 ? shape[1] : 0, width: w, height: h)
            meta.normalise(&v)
            return v
        }
        let arr = try Npy.read(bytes)
        let shp = arr.shape.count == 3 ? [1] + arr.shape : arr.shape
        guard shp == shape else {
            throw SegcError(.mismatch, "input shape \(arr.shape) does not match the plan's input \(shape)", file: path)
        }
        guard arr.dtype.isFloat else { throw SegcError(.mismatch, "input dtype \(arr.dtype.rawValue) is not float32/float64", file: path) }
        return arr.floats
    }
}

/// Loads a plan, converting a model first when given one (product.md §3 conventions).
enum PlanLoader {
    static func load(_ path: String, arch: String?, size: InputSize?) throws -> SegcModel {
        try loadWithMetadata(path, arch: arch, size: size).0
    }

    static func loadWithMetadata(_ path: String, arch: String?, size: InputSize?) throws -> (SegcModel, PlanMetadata) {
        let bytes = try FileBytes(contentsOf: path)
        if try ModelFormat.detect(bytes) == .segc {
            let plan = try PlanReader.read(bytes)
            return (try SegcModel(plan: plan), plan.metadata)
        }
        var options = CompileOptions()
        if let arch {
            guard let a = Architecture(argument: arch) else { throw ValidationError("unknown --arch '\(arch)'") }
            options.arch = a
        }
        options.size = size.map { ($0.height, $0.width) }
        // As `convert` does by default: a QDQ model runs as real int8.
        let result = try QDQToInt8.compile(bytes, options: options, quant: QDQToInt8.Options())
        return (try SegcModel(plan: result.plan), result.plan.metadata)
    }
}

enum Folder {
    /// Creates the output folder (and missing parents); a file in its place is an error.
    static func create(_ path: String) throws(SegcError) {
        if fileExists(path) { throw SegcError(.io, "exists and is not a folder", file: path) }
        try makeDirectories(path)
    }
}
