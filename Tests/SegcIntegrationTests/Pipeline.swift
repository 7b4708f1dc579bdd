import SegcCore
import SegcIR
import SegcTorch
import SegcPasses
import SegcLower
import SegcPlan
import SegcRuntime

/// checkpoint → graph → (passes) → plan bytes → verified plan → model, as `segc convert` + `run` do.
struct Compiled {
    var graph: Graph
    var plan: PlanFile
    var model: SegcModel
}

func compile(_ e: Shared.ManifestEntry, height: Int, width: Int, optimise: Bool = true) throws -> Compiled {
    let ckpt = try TorchCheckpoint.load(path: try Shared.path(e.checkpoint))
    let built = try NetworkBuilder.build(file: e.checkpoint, entries: ckpt.tensors.map { ($0.key, $0.tensor) },
                                         arch: Architecture(argument: e.arch), height: height, width: width)
    var graph = built.graph
    _ = try Pipeline.run(Pipeline.legalise, on: &graph)
    if optimise { _ = try Pipeline.run(Pipeline.optimise, on: &graph) }
    var meta = PlanMetadata()
    meta.architecture = built.architecture.rawValue
    meta.classes = built.classes
    let lowered = try Lowering.lower(graph, metadata: meta)
    // Through the bytes, as a user's plan file would go.
    let bytes = try PlanWriter.serialize(lowered)
    let file = FileBytes(bytes: bytes, name: "\(e.name).segc")
    let plan = try PlanReader.read(file)
    let model = try SegcModel(plan: plan)
    return Compiled(graph: graph, plan: plan, model: model)
}
