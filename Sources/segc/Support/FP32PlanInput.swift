import ArgumentParser
import SegcCompiler
import SegcCore
import SegcPlan
import SegcTorch

/// The MODEL argument of `prune` and `quantize`: an fp32 plan, or a model converted first
/// (with `--arch` / `--input-size`). Anything but an fp32 plan is refused, naming the file.
enum FP32PlanInput {
    /// The plan and its serialized size (the file's, or what `convert` would write).
    static func load(_ path: String, arch: String?, inputSize: InputSize?, verb: String) throws -> (plan: PlanFile, bytes: Int) {
        let file = try FileBytes(contentsOf: path)
        let plan: PlanFile
        let bytes: Int
        if try ModelFormat.detect(file) == .segc {
            plan = try PlanReader.read(file)
            bytes = file.count
        } else {
            var options = CompileOptions()
            if let arch {
                guard let a = Architecture(argument: arch) else { throw ValidationError("unknown --arch '\(arch)'") }
                options.arch = a
            }
            options.size = inputSize.map { ($0.height, $0.width) }
            plan = try Compiler.compile(file, options: options).plan
            bytes = try PlanWriter.serialize(plan).count
        }
        if plan.metadata.precision != "fp32" {
            throw SegcError(.unsupported, "only fp32 plans can be \(verb) (this one is \(plan.metadata.precision))", file: path)
        }
        return (plan, bytes)
    }
}
