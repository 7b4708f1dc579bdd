import ArgumentParser
import SegcCore
import SegcCompiler
import SegcIR
import SegcTorch
import SegcPasses
import SegcPlan

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a .pth, .onnx or .segc file without writing anything.",
        discussion: """
        Examples:
          segc inspect erfnet_cityscapes.pth
          segc inspect enet_cityscapes.pth --json --input-size 128x256
          segc inspect erfnet.segc --layers
        """)

    @Argument(help: "A PyTorch checkpoint, ONNX model or segc plan.")
    var file: String

    @Flag(help: "One row per layer (name, op, output shape, MACs, precision).")
    var layers = false

    @Flag(help: "Print the IR text dump.")
    var ir = false

    @Option(help: "Architecture (erfnet, enet, midenet, bisenetv1); detected when omitted.")
    var arch: String?

    @Option(help: "Input size HxW used for the counts (default 512x1024).")
    var inputSize: InputSize?

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let bytes = try FileBytes(contentsOf: file)
        let format = try ModelFormat.detect(bytes)
        if format == .segc {
            try inspectPlan(bytes)
        } else {
            try inspectModel(bytes)
        }
    }

    func inspectModel(_ bytes: FileBytes) throws {
        var options = CompileOptions()
        if let arch {
            guard let a = Architecture(argument: arch) else { throw SegcError(.usage, "unknown --arch '\(arch)' (erfnet, enet, midenet, bisenetv1)") }
            options.arch = a
        }
        options.size = inputSize.map { ($0.height, $0.width) }
        let imported = try Compiler.importModel(bytes, options: options)
        var graph = imported.graph
        do { _ = try Pipeline.run(Pipeline.legalise, on: &graph) } catch { throw error.inFile(file) }
        var tensorCount = 0
        var params = 0
        var dtypeCounts: [String: Int] = [:]
        var weightBytes = 0
        var quantized = false
        if let ckpt = imported.checkpoint {
            tensorCount = ckpt.tensors.count
            for e in ckpt.tensors {
                let dt = ckpt.torchDTypes[e.key] ?? e.tensor.dtype.rawValue
                dtypeCounts[dt, default: 0] += 1
                if dt == "qint8" || dt == "quint8" { quantized = true }
                weightBytes += e.tensor.elementCount * (e.tensor.dtype == .f64 ? 8 : e.tensor.dtype.byteSize)
                if !ParameterCount.isExcluded(e.key) && e.tensor.dtype != .i64 { params += e.tensor.elementCount }
            }
        } else if let onnx = imported.onnx {
            tensorCount = onnx.initializerCount
            params = onnx.parameterCount
            for t in graph.constants.values { weightBytes += t.elementCount * t.dtype.byteSize }
        }
        let (macs, flops) = GraphStats.macsAndFlops(graph)
        let ops = GraphStats.histogram(graph.nodes.map(\.op.name))
        let (h, w) = imported.inputSize
        let precision = quantized ? "int8" : "fp32"
        if global.json {
            var onnxFields: [(String, JSON)] = []
            if let onnx = imported.onnx {
                onnxFields = [("ir_version", .int(onnx.irVersion)), ("opset", .int(onnx.opset)), ("producer", .string(onnx.producer)),
                              ("dynamic_dims", .strings(onnx.dynamicDims)), ("warnings", .strings(onnx.warnings))]
            }
            let obj: JSON = .object([
                ("file", .string(file)), ("format", .string(imported.format.rawValue)),
                ("architecture", .string(imported.architecture)), ("classes", .int(imported.classes)),
                ("input_size", .ints([h, w])),
                ("tensor_count", .int(tensorCount)), ("parameter_count", .int(params)),
                ("macs", .int(macs)), ("flops", .int(flops)),
                ("bytes", .int(bytes.count)), ("weight_bytes", .int(weightBytes)), ("precision", .string(precision)),
                ("ops", .object(ops.map { ($0.0, .int($0.1)) })),
                ("dtypes", .object(dtypeCounts.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
                ("wrapper", imported.checkpoint?.wrapper.map { .string($0) } ?? .null),
                ("stripped_prefix", imported.checkpoint?.strippedPrefix.map { .string($0) } ?? .null),
                ("unused_tensors", .strings(imported.unusedKeys)),
                ("layers", layers ? layerRows(graph) : .null),
            ] + onnxFields)
            print(obj.text)
            return
        }
        print("\(Compiler.baseName(file)): \(imported.format.rawValue), \(imported.architecture), \(imported.classes) classes, \(precision)")
        print("  tensors \(tensorCount) (\(imported.unusedKeys.count) unused), parameters \(params), \(String(format1: Double(bytes.count) / 1e6)) MB")
        print("  at \(h)x\(w): \(String(format2: Double(macs) / 1e9)) GMACs, \(String(format2: Double(flops) / 1e9)) GFLOPs")
        print("  ops: " + ops.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        if let onnx = imported.onnx {
            print("  onnx: ir_version \(onnx.irVersion), opset \(onnx.opset), producer \(onnx.producer)" +
                  (onnx.dynamicDims.isEmpty ? "" : ", dynamic dims \(onnx.dynamicDims.joined(separator: ", "))"))
        }
        if let w = imported.checkpoint?.wrapper { print("  wrapper: '\(w)'") }
        if let p = imported.checkpoint?.strippedPrefix { print("  stripped prefix: '\(p)'") }
        if !imported.unusedKeys.isEmpty { print("  unused: " + imported.unusedKeys.joined(separator: ", ")) }
        if layers { printLayers(graph) }
        if ir { print(graph.dump()) }
    }

    func layerRows(_ g: Graph) -> JSON {
        .array(g.nodes.map { n in
            let out = g.type(of: n.outputs[0])
            let sub = GraphStats.macs(of: n, in: g)
            return .object([("name", .string(n.name)), ("op", .string(n.op.name)), ("output_shape", .ints(out.shape)),
                            ("macs", .int(sub)), ("precision", .string("fp32"))])
        })
    }


    func printLayers(_ g: Graph) {
        for n in g.nodes {
            let out = g.type(of: n.outputs[0])
            print("  \(n.name)  \(n.op.name)  \(out.shape)  \(GraphStats.macs(of: n, in: g)) MACs  fp32")
        }
    }

    static func hex(_ v: UInt32) -> String {
        let h = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - h.count) + h
    }

    func inspectPlan(_ bytes: FileBytes) throws {
        let plan = try PlanReader.read(bytes)
        let m = plan.metadata
        let (macs, flops) = GraphStats.macsAndFlops(plan.graph)
        let ops = GraphStats.histogram(plan.graph.ops.map(\.kind.name))
        let weightCount = plan.graph.ops.reduce(0) { $0 + $1.weights.count }
        let paramCount = plan.graph.ops.reduce(0) { $0 + $1.weights.reduce(0) { $0 + $1.elementCount } }
        let sections = try PlanReader.sections(bytes)
        let size = m.inputShape.count == 4 ? [m.inputShape[2], m.inputShape[3]] : []
        if global.json {
            let obj: JSON = .object([
                ("file", .string(file)), ("format", .string("segc")), ("format_version", .string("1.0")),
                ("producer", .string(m.producer)), ("architecture", .string(m.architecture)), ("classes", .int(m.classes)),
                ("input_size", .ints(size)), ("tensor_count", .int(weightCount)), ("parameter_count", .int(paramCount)),
                ("macs", .int(macs)), ("flops", .int(flops)), ("bytes", .int(bytes.count)),
                ("weight_bytes", .int(plan.weights.count)), ("precision", .string(m.precision)),
                ("temperature", .double(m.temperature)),
                ("input_shape", .ints(m.inputShape)),
                ("outputs", .array(([(m.outputName, m.outputShape)] + m.extraOutputs.map { ($0.name, $0.shape) }).map {
                    .object([("name", .string($0.0)), ("shape", .ints($0.1))])
                })),
                ("preprocessing", .object([("color", .string(m.color)), ("resize", .string(m.resize)), ("scale", .double(m.scale)),
                                           ("mean", .array(m.mean.map { .double($0) })), ("std", .array(m.std.map { .double($0) }))])),
                ("passes", .strings(m.passes)),
                ("ops", .object(ops.map { ($0.0, .int($0.1)) })),
                ("arena_bytes", .int(plan.graph.arenaBytes)),
                ("range_guard_tensors", .int(m.rangeGuard.count)),
                ("sections", .array(sections.map { .object([("tag", .string($0.tag)), ("bytes", .int($0.length)),
                                                            ("checksum", .string(Self.hex($0.checksum)))]) })),
            ])
            print(obj.text)
            return
        }
        print("\(Compiler.baseName(file)): segc plan 1.0, \(m.architecture), \(m.classes) classes, \(m.precision), input \(m.inputShape)")
        if !m.extraOutputs.isEmpty {
            let all = [(m.outputName, m.outputShape)] + m.extraOutputs.map { ($0.name, $0.shape) }
            print("  outputs: " + all.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        }
        print("  \(m.producer); source \(m.sourceFile) (\(m.sourceFormat)); temperature \(m.temperature)")
        print("  weights \(weightCount) tensors, \(paramCount) parameters, \(String(format1: Double(plan.weights.count) / 1e6)) MB; arena \(String(format1: Double(plan.graph.arenaBytes) / 1048576)) MiB")
        print("  \(String(format2: Double(macs) / 1e9)) GMACs, \(String(format2: Double(flops) / 1e9)) GFLOPs")
        print("  ops: " + ops.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        print("  passes: " + m.passes.joined(separator: ", "))
        if !m.rangeGuard.isEmpty {
            print("  range guard: \(m.rangeGuard.count) uint8 tensors, \(m.rangeGuard.filter { $0.max > 0 }.count) saturated by some calibration image (run/eval --guard)")
        }
        print("  sections: " + sections.map { "\($0.tag) \($0.length) B (crc32c \(Self.hex($0.checksum)))" }.joined(separator: ", "))
        if layers {
            for (i, op) in plan.graph.ops.enumerated() {
                let name = plan.sourceName(i) ?? "op\(i)"
                // Per op: int8 when it computes on uint8 (int8 ops, uint8 pool/concat), else fp32.
                let out = plan.graph.values[op.outputs[0]]
                let int8 = op.kind.isRealInt8 || out.dtype == .u8
                print("  \(name)  \(op.kind.name)  \(out.shape)  \(int8 ? "int8" : "fp32")")
            }
        }
    }
}

extension String {
    init(format1 v: Double) { self = String((v * 10).rounded() / 10) }
    init(format2 v: Double) {
        let r = (v * 100).rounded() / 100
        var s = String(r)
        if let dot = s.firstIndex(of: ".") { let decimals = s.distance(from: dot, to: s.endIndex) - 1; if decimals < 2 { s += String(repeating: "0", count: 2 - decimals) } }
        self = s
    }
}
