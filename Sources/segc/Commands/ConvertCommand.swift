import ArgumentParser
import SegcCore
import SegcCompiler
import SegcTorch
import SegcPlan
import SegcQuantize

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Import a model, optimise it and write a verified .segc plan.",
        discussion: """
        Examples:
          segc convert erfnet_cityscapes.pth                       # -> ./erfnet_cityscapes.segc at 512x1024
          segc convert enet_void.pth -o enet.segc --input-size 128x256
          segc convert net.pth --arch bisenetv1 --classes 19 --no-optimize
          segc convert erfnet_int8_qdq.onnx                        # QDQ model -> real int8 plan, its own scales
          segc convert erfnet_fx_int8_state.pth --keep-quant       # FX int8 checkpoint -> int8 plan, its own scales
        On any error the output file does not exist afterwards (an existing file is left untouched).
        """)

    @Argument(help: "A PyTorch checkpoint (.pth, zip or legacy container) or an ONNX model.")
    var file: String

    @Option(name: .short, help: "Output plan (default: ./<stem>.segc).")
    var output: String?

    @Option(help: "Architecture (erfnet, enet, midenet, bisenetv1); detected when omitted.")
    var arch: String?

    @Option(help: "Input size HxW (default 512x1024).")
    var inputSize: InputSize?

    @Option(help: "Expected class count (a check, not an override).")
    var classes: Int?

    @Option(help: "Per-channel mean subtracted after scaling to [0,1], one value per input channel (e.g. R,G,B; default 0 each).")
    var mean: String?

    @Option(help: "Per-channel std, one value per input channel (default 1 each).")
    var std: String?

    @Flag(help: "An FX-quantized checkpoint becomes an int8 plan on its own scales (default: dequantized to fp32).")
    var keepQuant = false

    @Flag(help: "Keep a quantized model's quantize-dequantize pairs as simulated float32 ops instead of real int8.")
    var simulateQuant = false

    @Flag(help: "Skip the optimisation pipeline (BatchNorm folding, fusion).")
    var noOptimize = false

    @OptionGroup var global: GlobalOptions

    /// Comma-separated finite numbers; their count is checked against the model's input
    /// channels once the model is read (the error names the file).
    static func perChannel(_ s: String?, _ name: String) throws -> [Double]? {
        guard let s else { return nil }
        let parts = s.split(separator: ",", omittingEmptySubsequences: false)
        let v = parts.compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, v.count == parts.count, v.allSatisfy(\.isFinite) else {
            throw ValidationError("--\(name) needs comma-separated numbers, one per input channel")
        }
        return v
    }

    func run() throws {
        var options = CompileOptions()
        if let arch {
            guard let a = Architecture(argument: arch) else { throw ValidationError("unknown --arch '\(arch)' (erfnet, enet, midenet, bisenetv1)") }
            options.arch = a
        }
        options.size = inputSize.map { ($0.height, $0.width) }
        options.classes = classes
        options.optimize = !noOptimize
        options.mean = try Self.perChannel(mean, "mean")
        options.std = try Self.perChannel(std, "std")
        if options.std?.contains(0) == true { throw ValidationError("--std must not contain 0") }

        let out = output ?? "\(Compiler.stem(file)).segc"
        let start = ContinuousClock.now
        let bytes = try FileBytes(contentsOf: file)
        var quant = QDQToInt8.Options()
        quant.keepQuant = keepQuant
        quant.simulate = simulateQuant
        let result = try QDQToInt8.compile(bytes, options: options, quant: quant)
        // Serialised and verified with the same reader `run` uses before it is written.
        let data = try SegcImportedModel.serializeVerified(result.plan, name: file)
        try AtomicFile.write(out, bytes: data)
        let elapsed = ContinuousClock.now - start
        let m = result.plan.metadata
        if global.json {
            let obj: JSON = .object([
                ("input", .string(file)), ("output", .string(out)), ("architecture", .string(m.architecture)),
                ("classes", .int(m.classes)), ("input_size", .ints(Array(m.inputShape.suffix(2)))),
                ("precision", .string(m.precision)), ("bytes", .int(data.count)), ("weight_bytes", .int(result.plan.weights.count)),
                ("passes", .array(result.passes.map { .object([("name", .string($0.name)), ("ops_before", .int($0.opsBefore)),
                                                               ("ops_after", .int($0.opsAfter)), ("ms", .double($0.milliseconds))]) })),
                ("ms", .double(BenchCommand.ms(elapsed))),
                ("warnings", .strings(result.imported.warnings)),
            ])
            print(obj.text)
        } else {
            for w in result.imported.warnings where !global.quiet { FileHandleOut.stderr("warning: \(file): \(w)") }
            print("\(out): \(m.architecture) \(m.precision) \(m.inputShape.suffix(2).map(String.init).joined(separator: "x")), \(String(format2: Double(data.count) / 1e6)) MB, \(result.passes.count) passes, \(result.plan.graph.ops.count) ops")
        }
    }
}
