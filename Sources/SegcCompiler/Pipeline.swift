import SegcCore
import SegcIR
import SegcTorch
import SegcPasses
import SegcPrune
import SegcLower
import SegcPlan
import SegcONNX

/// The convert pipeline: import (§2) → legalise → optimise → lower (§4). The CLI and
/// the public API (`SegcCompiler.swift`) are both thin layers over these functions.
package struct ImportedModel: Sendable {
    package var format: ModelFormat
    package var graph: Graph
    /// §2.6 name, or `unknown` for an ONNX model whose initializers match no builder.
    package var architecture: String
    package var classes: Int
    /// PyTorch checkpoints only.
    package var checkpoint: TorchCheckpoint?
    package var unusedKeys: [String] = []
    /// ONNX only.
    package var onnx: ONNXModel?
    package var warnings: [String] = []
    /// Name and SHA-256 of the source file (plan metadata `source`).
    package var sourceName: String = ""
    package var sourceSHA256: String = ""
    /// Passes applied so far (legalise, then optimise).
    package var passes: [PassReport] = []

    package var inputShape: [Int] { graph.type(of: graph.inputs[0]).shape }

    package var inputSize: (Int, Int) {
        let s = inputShape
        return (s[2], s[3])
    }
}

package struct CompileOptions: Sendable {
    package var arch: Architecture?
    /// nil: 512x1024 for checkpoints; an ONNX model's static size, else 512x1024.
    package var size: (height: Int, width: Int)?
    package var classes: Int?
    package var optimize = true
    /// Per input channel; nil = 0 (mean) and 1 (std) for every channel.
    package var mean: [Double]?
    package var std: [Double]?
    package init() {}
}

package struct CompileResult: Sendable {
    package var imported: ImportedModel
    package var plan: PlanFile
    package var passes: [PassReport]
    package init(imported: ImportedModel, plan: PlanFile, passes: [PassReport]) {
        self.imported = imported; self.plan = plan; self.passes = passes
    }
}

package enum Compiler {
    /// The paper's input size (H, W), used when nothing else fixes it.
    package static let paperDefaultSize = (height: 512, width: 1024)

    /// Reads a checkpoint or ONNX model and builds its graph (not yet legalised).
    package static func importModel(_ file: FileBytes, options: CompileOptions) throws(SegcError) -> ImportedModel {
        let format = try ModelFormat.detect(file)
        var imported: ImportedModel
        switch format {
        case .pthZip, .pthLegacy:
            let ckpt = try TorchCheckpoint.load(file)
            let entries = ckpt.tensors.map { ($0.key, $0.tensor) }
            let size = options.size ?? paperDefaultSize
            let net = try NetworkBuilder.build(file: file.name, entries: entries, arch: options.arch,
                                               height: size.height, width: size.width,
                                               expectedClasses: options.classes)
            imported = ImportedModel(format: format, graph: net.graph, architecture: net.architecture.rawValue,
                                     classes: net.classes, checkpoint: ckpt, unusedKeys: net.unusedKeys)
        case .onnx:
            let model = try ONNXImporter.load(file, path: file.name, inputSize: options.size.map { ($0.height, $0.width) })
            let out = model.graph.type(of: model.graph.outputs[0]).shape
            let classes = out.count == 4 ? out[1] : 0
            if let expected = options.classes, expected != classes {
                throw SegcError(.mismatch, "--classes \(expected) given but the model has \(classes) outputs", file: file.name)
            }
            // Architecture from initializer names when the exporter kept the module paths.
            let named = model.graph.constants.map { (model.graph.values[$0.key.index].name, $0.value) }
            let arch = options.arch?.rawValue ?? NetworkBuilder.detect(entries: named)?.rawValue ?? "unknown"
            imported = ImportedModel(format: format, graph: model.graph, architecture: arch, classes: classes,
                                     checkpoint: nil, onnx: model, warnings: model.warnings)
        case .segc:
            throw SegcError(.unsupported, "already a segc plan (convert takes a .pth checkpoint or an ONNX model)", file: file.name)
        }
        imported.sourceName = baseName(file.name)
        imported.sourceSHA256 = SHA256.hex(file.buffer)
        return imported
    }

    /// `convert`'s optimisation: the graph passes, then exact dead-channel removal (it needs
    /// the channel groups of SegcPrune, so it cannot live in SegcPasses).
    package static let optimise: [any GraphPass] = Pipeline.optimise + [RemoveDeadChannels()]

    /// Runs a pipeline of passes on the imported graph, recording what each did.
    package static func run(_ passes: [any GraphPass], on model: inout ImportedModel) throws(SegcError) {
        do { model.passes += try Pipeline.run(passes, on: &model.graph) } catch { throw error.inFile(model.sourceName) }
    }

    /// Lowers a (legalised, possibly optimised) graph to a plan. `mean`/`std` need one
    /// entry per input channel (nil: 0 and 1 for every channel).
    package static func lower(_ imported: ImportedModel, mean: [Double]?, std: [Double]?) throws(SegcError) -> PlanFile {
        try lowerMapped(imported, mean: mean, std: std).plan
    }

    /// `lower`, plus each IR activation's plan value index (`Lowering.lowerMapped`).
    package static func lowerMapped(_ imported: ImportedModel, mean: [Double]?, std: [Double]?) throws(SegcError)
        -> (plan: PlanFile, values: [ValueID: Int]) {
        let graph = imported.graph
        let channels = imported.inputShape.count == 4 ? imported.inputShape[1] : 1
        func perChannel(_ v: [Double]?, _ name: String, _ d: Double) throws(SegcError) -> [Double] {
            guard let v else { return [Double](repeating: d, count: channels) }
            guard v.count == channels else {
                throw SegcError(.mismatch, "--\(name) has \(v.count) values but the model's input has \(channels) channels",
                                file: imported.sourceName)
            }
            guard v.allSatisfy(\.isFinite) else { throw SegcError(.usage, "--\(name) values must be finite", file: imported.sourceName) }
            return v
        }
        var meta = PlanMetadata()
        meta.architecture = imported.architecture
        meta.sourceFile = imported.sourceName
        meta.sourceFormat = imported.format.rawValue
        meta.sourceSHA256 = imported.sourceSHA256
        meta.classes = imported.classes
        meta.classNames = classNames(imported.classes)
        meta.mean = try perChannel(mean, "mean", 0)
        meta.std = try perChannel(std, "std", 1)
        if meta.std.contains(0) { throw SegcError(.usage, "--std must not contain 0", file: imported.sourceName) }
        // Images can feed grey (Pillow "L") and RGB inputs only; other counts take .npy tensors.
        meta.color = channels == 3 ? "RGB" : channels == 1 ? "L" : "none"
        meta.precision = graph.nodes.contains { if case .quantizeDequantize = $0.op { true } else { false } } ? "mixed" : "fp32"
        meta.passes = imported.passes.map(\.name)
        var plan: PlanFile
        let values: [ValueID: Int]
        do { (plan, values) = try Lowering.lowerMapped(graph, metadata: meta) } catch { throw error.inFile(imported.sourceName) }
        // Several outputs are written as `<name>.npy`: name them as the ONNX model does
        // (passes keep the order of `graph.outputs`).
        if let names = imported.onnx?.outputNames, names.count == plan.metadata.extraOutputs.count + 1, names.count > 1 {
            plan.metadata.outputName = names[0]
            for k in plan.metadata.extraOutputs.indices { plan.metadata.extraOutputs[k].name = names[k + 1] }
        }
        return (plan, values)
    }

    /// import → legalise → optimise (unless `options.optimize` is false) → lower.
    package static func compile(_ file: FileBytes, options: CompileOptions) throws(SegcError) -> CompileResult {
        var imported = try importModel(file, options: options)
        try run(Pipeline.legalise, on: &imported)
        if options.optimize { try run(optimise, on: &imported) }
        let plan = try lower(imported, mean: options.mean, std: options.std)
        return CompileResult(imported: imported, plan: plan, passes: imported.passes)
    }

    package static let cityscapesNames = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                                          "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                                          "motorcycle", "bicycle"]

    package static func classNames(_ n: Int) -> [String] {
        (0..<n).map { $0 < cityscapesNames.count ? cityscapesNames[$0] : ($0 == 19 ? "void" : "class \($0)") }
    }

    package static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    package static func stem(_ path: String) -> String {
        let b = baseName(path)
        if let dot = b.lastIndex(of: "."), dot != b.startIndex { return String(b[..<dot]) }
        return b
    }
}
