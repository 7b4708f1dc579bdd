import SegcCore
import SegcPasses
import SegcPlan
import SegcTorch

/// Converts PyTorch checkpoints and ONNX models into verified `.segc` plans, in process.
///
/// The stages are those of `segc convert`: ``importModel(contentsOf:options:)`` (or
/// ``importModel(bytes:name:options:)``) reads the file and legalises its graph,
/// ``SegcImportedModel/optimise()`` folds BatchNorm, fuses activations and removes dead channels,
/// ``SegcImportedModel/lower(mean:std:)`` builds the plan, and
/// ``SegcCompiledPlan/write(to:)`` writes it atomically. ``convert(contentsOf:options:)``
/// does all of it at once.
public enum SegcCompiler {
    /// What `segc convert`'s options set.
    public struct Options: Sendable {
        /// `erfnet`, `enet`, `midenet` or `bisenetv1` (alias `bisenet`); `nil` detects
        /// the architecture of a checkpoint from its keys.
        public var architecture: String?
        /// Input (height, width). `nil`: 512x1024 for checkpoints; an ONNX model's static
        /// size, else 512x1024.
        public var inputSize: (height: Int, width: Int)?
        /// Expected class count: a check, never an override.
        public var classes: Int?
        /// Run the optimisation pipeline (``convert(contentsOf:options:)`` only).
        public var optimize: Bool = true
        /// Per-channel preprocessing stored in the plan; one value per input channel.
        /// `nil`: mean 0 and std 1 for every channel.
        public var mean: [Double]?
        public var std: [Double]?

        public init(architecture: String? = nil, inputSize: (height: Int, width: Int)? = nil, classes: Int? = nil,
                    optimize: Bool = true, mean: [Double]? = nil, std: [Double]? = nil) {
            self.architecture = architecture; self.inputSize = inputSize; self.classes = classes
            self.optimize = optimize; self.mean = mean; self.std = std
        }

        package func compileOptions() throws(SegcError) -> CompileOptions {
            var o = CompileOptions()
            if let architecture {
                guard let a = Architecture(argument: architecture) else {
                    throw SegcError(.usage, "unknown architecture '\(architecture)' (erfnet, enet, midenet, bisenetv1)")
                }
                o.arch = a
            }
            if let s = inputSize {
                guard s.height >= 1, s.width >= 1, s.height <= Limits.maxImageSide, s.width <= Limits.maxImageSide else {
                    throw SegcError(.usage, "input size \(s.height)x\(s.width) out of range")
                }
                o.size = s
            }
            o.classes = classes
            o.optimize = optimize
            o.mean = mean
            o.std = std
            return o
        }
    }

    /// Reads the model at `path` (format recognised by content) and legalises its graph.
    public static func importModel(contentsOf path: String, options: Options = Options()) throws(SegcError) -> SegcImportedModel {
        let file = try FileBytes(contentsOf: path)
        return try importModel(file, options: options)
    }

    /// Reads a model held in memory; `name` is used in error messages and the plan's `source`.
    public static func importModel(bytes: [UInt8], name: String = "<memory>", options: Options = Options()) throws(SegcError) -> SegcImportedModel {
        try importModel(FileBytes(bytes: bytes, name: name), options: options)
    }

    static func importModel(_ file: FileBytes, options: Options) throws(SegcError) -> SegcImportedModel {
        var m = try Compiler.importModel(file, options: try options.compileOptions())
        try Compiler.run(Pipeline.legalise, on: &m)
        return SegcImportedModel(model: m)
    }

    /// import → legalise → optimise (if `options.optimize`) → lower, as `segc convert`.
    public static func convert(contentsOf path: String, options: Options = Options()) throws(SegcError) -> SegcCompiledPlan {
        try convert(try FileBytes(contentsOf: path), options: options)
    }

    /// ``convert(contentsOf:options:)`` for a model held in memory.
    public static func convert(bytes: [UInt8], name: String = "<memory>", options: Options = Options()) throws(SegcError) -> SegcCompiledPlan {
        try convert(FileBytes(bytes: bytes, name: name), options: options)
    }

    static func convert(_ file: FileBytes, options: Options) throws(SegcError) -> SegcCompiledPlan {
        var m = try importModel(file, options: options)
        if options.optimize { try m.optimise() }
        return try m.lower(mean: options.mean, std: options.std)
    }
}

/// A model read into segc's graph form, legalised, not yet lowered.
public struct SegcImportedModel: Sendable {
    package var model: ImportedModel

    package init(model: ImportedModel) { self.model = model }

    /// `erfnet`, `enet`, `midenet`, `bisenetv1`, or `unknown`.
    public var architecture: String { model.architecture }
    /// Output channels of the network.
    public var classes: Int { model.classes }
    /// `[1, C, H, W]`.
    public var inputShape: [Int] { model.inputShape }
    /// Shape of the graph output.
    public var outputShape: [Int] { model.graph.type(of: model.graph.outputs[0]).shape }
    /// Non-fatal remarks from the importer.
    public var warnings: [String] { model.warnings }
    /// Names of the passes applied so far, in order.
    public var passes: [String] { model.passes.map(\.name) }
    /// Number of graph nodes.
    public var nodeCount: Int { model.graph.nodes.count }

    /// Runs the optimisation pipeline (BatchNorm folding, operator fusion, subnormal weights
    /// to 0, exact removal of channels that are zero for every input); every pass
    /// re-verifies the graph.
    public mutating func optimise() throws(SegcError) {
        try Compiler.run(Compiler.optimise, on: &model)
    }

    /// Lowers the graph to a verified plan. `mean`/`std`: one value per input channel,
    /// applied to images by `run`/`eval` (`nil`: 0 and 1).
    public func lower(mean: [Double]? = nil, std: [Double]? = nil) throws(SegcError) -> SegcCompiledPlan {
        let plan = try Compiler.lower(model, mean: mean, std: std)
        let bytes = try Self.serializeVerified(plan, name: model.sourceName)
        return SegcCompiledPlan(plan: plan, bytes: bytes, imported: model)
    }

    /// The plan's bytes, verified with the same reader the runtime uses before anyone can
    /// write them; a failure is a plan segc built wrongly from this model, so it names it.
    package static func serializeVerified(_ plan: PlanFile, name: String) throws(SegcError) -> [UInt8] {
        do {
            let bytes = try PlanWriter.serialize(plan)
            _ = try PlanReader.read(FileBytes(bytes: bytes, name: name))
            return bytes
        } catch {
            throw error.inFile(name)
        }
    }
}

/// A compiled, verified plan: its bytes and what it holds.
public struct SegcCompiledPlan: Sendable {
    package let plan: PlanFile
    package let imported: ImportedModel
    /// The `.segc` file contents (deterministic: same input, same bytes). Load them
    /// with `SegcModel(bytes:)` from `SegcRuntime`.
    public let bytes: [UInt8]

    package init(plan: PlanFile, bytes: [UInt8], imported: ImportedModel) {
        self.plan = plan; self.bytes = bytes; self.imported = imported
    }

    /// `[1, C, H, W]`.
    public var inputShape: [Int] { plan.metadata.inputShape }
    /// Shape of the output tensor.
    public var outputShape: [Int] { plan.metadata.outputShape }
    /// `fp32` or `mixed`.
    public var precision: String { plan.metadata.precision }
    /// `erfnet`, `enet`, `midenet`, `bisenetv1`, or `unknown`.
    public var architecture: String { plan.metadata.architecture }
    /// Passes applied, in order.
    public var passes: [String] { plan.metadata.passes }
    /// Bytes of weights in the plan.
    public var weightBytes: Int { plan.weights.count }

    /// Writes the plan atomically (temporary file, then rename; nothing is left on failure).
    public func write(to path: String) throws(SegcError) {
        try AtomicFile.write(path, bytes: bytes)
    }
}
