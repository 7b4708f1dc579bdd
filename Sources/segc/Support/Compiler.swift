import SegcCore
import SegcIR
import SegcTorch
import SegcPasses
import SegcLower
import SegcPlan
import SegcONNX

/// The convert pipeline: import (§2) → legalise → optimise → lower (§4).
struct ImportedModel {
    var format: ModelFormat
    var graph: Graph
    /// §2.6 name, or `unknown` for an ONNX model whose initializers match no builder.
    var architecture: String
    var classes: Int
    /// PyTorch checkpoints only.
    var checkpoint: TorchCheckpoint?
    var unusedKeys: [String] = []
    /// ONNX only.
    var onnx: ONNXModel?
    var warnings: [String] = []

    var inputSize: (Int, Int) {
        let s = graph.type(of: graph.inputs[0]).shape
        return (s[2], s[3])
    }
}

struct CompileOptions {
    var arch: Architecture?
    /// nil: 512x1024 for checkpoints; an ONNX model's static size, else 512x1024.
    var size: InputSize?
    var classes: Int?
    var optimize = true
    var mean: [Double] = [0, 0, 0]
    var std: [Double] = [1, 1, 1]
}

struct CompileResult {
    var imported: ImportedModel
    var plan: PlanFile
    var passes: [PassReport]
}

enum Compiler {
    /// Reads a PyTorch checkpoint and builds its graph (legalised only).
    static func importModel(_ file: FileBytes, options: CompileOptions) throws(SegcError) -> ImportedModel {
        let format = try ModelFormat.detect(file)
        switch format {
        case .pthZip, .pthLegacy:
            let ckpt = try TorchCheckpoint.load(file)
            let entries = ckpt.tensors.map { ($0.key, $0.tensor) }
            let size = options.size ?? .paperDefault
            let net = try NetworkBuilder.build(file: file.name, entries: entries, arch: options.arch,
                                               height: size.height, width: size.width,
                                               expectedClasses: options.classes)
            return ImportedModel(format: format, graph: net.graph, architecture: net.architecture.rawValue,
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
            return ImportedModel(format: format, graph: model.graph, architecture: arch, classes: classes,
                                 checkpoint: nil, onnx: model, warnings: model.warnings)
        case .segc:
            throw SegcError(.unsupported, "already a segc plan (convert takes a .pth checkpoint)", file: file.name)
        }
    }

    static func compile(_ file: FileBytes, options: CompileOptions) throws(SegcError) -> CompileResult {
        var imported = try importModel(file, options: options)
        var graph = imported.graph
        var reports: [PassReport]
        do {
            reports = try Pipeline.run(Pipeline.legalise, on: &graph)
            if options.optimize { reports += try Pipeline.run(Pipeline.optimise, on: &graph) }
        } catch { throw error.inFile(file.name) }
        imported.graph = graph

        var meta = PlanMetadata()
        meta.architecture = imported.architecture
        meta.sourceFile = baseName(file.name)
        meta.sourceFormat = imported.format.rawValue
        meta.sourceSHA256 = SHA256.hex(file.buffer)
        meta.classes = imported.classes
        meta.classNames = classNames(imported.classes)
        meta.mean = options.mean
        meta.std = options.std
        meta.precision = graph.nodes.contains { if case .quantizeDequantize = $0.op { true } else { false } } ? "mixed" : "fp32"
        meta.passes = reports.map(\.name)
        let plan: PlanFile
        do { plan = try Lowering.lower(graph, metadata: meta) } catch { throw error.inFile(file.name) }
        return CompileResult(imported: imported, plan: plan, passes: reports)
    }

    static let cityscapesNames = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                                  "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                                  "motorcycle", "bicycle"]

    static func classNames(_ n: Int) -> [String] {
        (0..<n).map { $0 < cityscapesNames.count ? cityscapesNames[$0] : ($0 == 19 ? "void" : "class \($0)") }
    }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func stem(_ path: String) -> String {
        let b = baseName(path)
        if let dot = b.lastIndex(of: "."), dot != b.startIndex { return String(b[..<dot]) }
        return b
    }
}
