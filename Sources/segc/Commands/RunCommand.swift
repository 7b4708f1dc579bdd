import ArgumentParser
import SegcCore
import SegcPlan
import SegcRuntime
import SegcTorch
#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a plan on preprocessed .npy inputs and write the logits.",
        discussion: """
        Examples:
          segc run erfnet.segc city1_512x1024.npy -o logits.npy
          segc run erfnet.segc a.npy b.npy -o logits/          # one <stem>.npy per input
          segc run erfnet_cityscapes.pth frame.npy --input-size 128x256 -o out.npy   # converts first
        Inputs are float32 (or float64) arrays of shape [1,3,H,W] or [3,H,W] equal to the plan's input.
        """)

    @Argument(help: "A .segc plan (or a model, converted with convert's defaults first).")
    var plan: String

    @Argument(help: "Input tensors (.npy).")
    var inputs: [String]

    @Option(name: .short, help: "Output .npy (a folder when several inputs are given).")
    var output: String?

    @Option(help: "Architecture, when PLAN is a model.")
    var arch: String?

    @Option(help: "Input size HxW, when PLAN is a model.")
    var inputSize: InputSize?

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let model = try PlanLoader.load(plan, arch: arch, size: inputSize)
        let session = try SegcSession(model: model, threads: global.threads ?? 0)
        let inShape = model.inputShape
        let outShape = model.outputShape
        var results: [JSON] = []
        let multi = inputs.count > 1
        if multi, let output { try Folder.create(output) }
        for path in inputs {
            let arr = try Npy.read(contentsOf: path)
            let shape = arr.shape.count == 3 ? [1] + arr.shape : arr.shape
            guard shape == inShape else {
                throw SegcError(.mismatch, "input shape \(arr.shape) does not match the plan's input \(inShape)", file: path)
            }
            guard arr.dtype.isFloat else { throw SegcError(.mismatch, "input dtype \(arr.dtype.rawValue) is not float32/float64", file: path) }
            let values = arr.floats
            let start = ContinuousClock.now
            let logits = try values.withUnsafeBufferPointer { buf in try Array(session.run(buf)) }
            let d = ContinuousClock.now - start
            let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
            var written: [JSON] = []
            if let output {
                let dest = multi ? "\(output)/\(Compiler.stem(path)).npy" : output
                try Npy.write(logits, shape: outShape, to: dest)
                written.append(.string(dest))
            }
            var lo = Float.infinity, hi = -Float.infinity
            for v in logits { lo = min(lo, v); hi = max(hi, v) }
            if global.json {
                results.append(.object([("input", .string(path)), ("output_shape", .ints(outShape)), ("ms", .double(ms)),
                                        ("outputs", .array(written)), ("min", .double(Double(lo))), ("max", .double(Double(hi)))]))
            } else {
                print("\(path): logits \(outShape) in \(String(format2: ms)) ms (min \(lo), max \(hi))" + (written.isEmpty ? "" : " -> \(output ?? "")"))
            }
        }
        if global.json { print(JSON.object([("plan", .string(plan)), ("inputs", .array(results))]).text) }
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
        options.size = size
        let result = try Compiler.compile(bytes, options: options)
        return (try SegcModel(plan: result.plan), result.plan.metadata)
    }
}

enum Folder {
    static func create(_ path: String) throws(SegcError) {
        var st = stat()
        if stat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) != S_IFDIR { throw SegcError(.io, "exists and is not a folder", file: path) }
            return
        }
        if mkdir(path, 0o755) != 0 { throw SegcError(.io, "cannot create folder", file: path) }
    }
}
