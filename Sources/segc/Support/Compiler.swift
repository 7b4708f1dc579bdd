import SegcCore
import SegcIR
import SegcTorch
import SegcPasses
import SegcLower
import SegcPlan

/// The convert pipeline: import (§2) → legalise → optimise → lower (§4).
struct ImportedModel {
    var format: ModelFormat
    var checkpoint: TorchCheckpoint
    var network: BuiltNetwork
}

struct CompileOptions {
    var arch: Architecture?
    var size: InputSize = .paperDefault
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
            let net = try NetworkBuilder.build(file: file.name, entries: entries, arch: options.arch,
                                               height: options.size.height, width: options.size.width,
                                               expectedClasses: options.classes)
            return ImportedModel(format: format, checkpoint: ckpt, network: net)
        case .onnx:
            throw SegcError(.unsupported, "ONNX import is not implemented in this version of segc (export a state_dict .pth instead)",
                            file: file.name)
        case .segc:
            throw SegcError(.unsupported, "already a segc plan (convert takes a .pth checkpoint)", file: file.name)
        }
    }

    static func compile(_ file: FileBytes, options: CompileOptions) throws(SegcError) -> CompileResult {
        var imported = try importModel(file, options: options)
        var graph = imported.network.graph
        var reports = try Pipeline.run(Pipeline.legalise, on: &graph)
        if options.optimize { reports += try Pipeline.run(Pipeline.optimise, on: &graph) }
        imported.network.graph = graph

        var meta = PlanMetadata()
        meta.architecture = imported.network.architecture.rawValue
        meta.sourceFile = baseName(file.name)
        meta.sourceFormat = imported.format.rawValue
        meta.sourceSHA256 = SHA256.hex(file.buffer)
        meta.classes = imported.network.classes
        meta.classNames = classNames(imported.network.classes)
        meta.mean = options.mean
        meta.std = options.std
        meta.precision = "fp32"
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
