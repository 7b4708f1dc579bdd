import SegcCore
import SegcCompiler
import SegcEval
import SegcPlan
import SegcRuntime

/// A model of the tables, found and compiled once; its plan serves every table and the
/// speed measurement.
struct LoadedModel {
    let ref: ModelRef
    /// The file found in `--models` (the path `segc eval` commands name).
    let path: String
    let model: SegcModel
    let metadata: PlanMetadata
    /// Serialized plan size (what `convert` would write).
    let planBytes: Int
    /// Multiply-accumulates at the plan's input size.
    let macs: Int
    /// product.md §2.6 parameter count (checkpoints), or stored weight elements (plans).
    let parameters: Int
    /// Commands that make `path` (a compressed variant), each figure's command follows them
    /// with `&&`; empty for a file found in `--models`.
    var recipe = ""

    /// `command` preceded by the recipe that makes the plan it reads.
    func command(_ command: String) -> String { recipe.isEmpty ? command : recipe + " && " + command }
}

enum Discovery {
    /// The file for `ref` in `dir`, or nil.
    static func modelFile(_ ref: ModelRef, in dir: String) -> String? {
        for ext in ["segc", "pth", "onnx"] {
            let p = dir + "/" + ref.stem + "." + ext
            if fileExists(p) { return p }
        }
        return nil
    }

    /// The folder of `column` in `dir`, or nil.
    static func datasetFolder(_ column: DatasetColumn, in dir: String) -> String? {
        for f in column.folders where isDirectory(dir + "/" + f) { return dir + "/" + f }
        return nil
    }

    /// Imports (or reads) and compiles a model with convert's defaults (512x1024, no
    /// normalisation), exactly as `segc eval MODEL` does, so the figures agree.
    static func load(_ ref: ModelRef, path: String) throws -> LoadedModel {
        let bytes = try FileBytes(contentsOf: path)
        let plan: PlanFile
        var params = 0
        if try ModelFormat.detect(bytes) == .segc {
            plan = try PlanReader.read(bytes)
            params = plan.graph.ops.reduce(0) { $0 + $1.weights.reduce(0) { $0 + $1.elementCount } }
        } else {
            let result = try Compiler.compile(bytes, options: CompileOptions())
            plan = result.plan
            if let ckpt = result.imported.checkpoint {
                for e in ckpt.tensors where !ParameterCount.isExcluded(e.key) && e.tensor.dtype != .i64 {
                    params += e.tensor.elementCount
                }
            } else if let onnx = result.imported.onnx {
                params = onnx.parameterCount
            }
        }
        let serialized: [UInt8]
        do { serialized = try PlanWriter.serialize(plan) } catch { throw error.inFile(path) }
        let model = try SegcModel(plan: plan)
        let macs = GraphStats.macsAndFlops(plan.graph).macs
        guard model.inputShape.count == 4, model.outputShape.count == 4,
              model.inputShape[2] == model.outputShape[2], model.inputShape[3] == model.outputShape[3] else {
            throw SegcError(.unsupported, "reproduce needs an NCHW plan whose output has the input's size", file: path)
        }
        return LoadedModel(ref: ref, path: path, model: model, metadata: plan.metadata, planBytes: serialized.count,
                           macs: macs, parameters: params)
    }
}
