import CONNXProto
import SegcCore
import SegcIR

/// An imported ONNX model: the IR graph (one input `[N,C,H,W]` f32, N the model's fixed
/// batch or 1; one or more float32 outputs, the first being the logits) and what
/// `inspect` reports about the file.
package struct ONNXModel: Sendable {
    package var graph: Graph
    package var irVersion: Int
    /// Opset of the default domain.
    package var opset: Int
    /// `producer_name` and `producer_version`, e.g. `pytorch 2.15.0`.
    package var producer: String
    /// Names of the symbolic input dimensions that `inputSize` fixed (e.g. `["H", "W"]`).
    package var dynamicDims: [String]
    /// Number of graph initializers.
    package var initializerCount: Int
    /// Learned parameters: float initializer elements, excluding BatchNorm running
    /// mean/variance and integer (shape) constants.
    package var parameterCount: Int
    /// Non-fatal remarks (extra outputs ignored, …).
    package var warnings: [String]
    /// ONNX names of the graph outputs kept, in the order of `graph.outputs`.
    package var outputNames: [String] = []
}

package enum ONNXImporter {
    /// Default `--input-size` (H, W) for symbolic dimensions.
    package static let defaultInputSize = (512, 1024)
    /// Default-domain opsets a model may declare. Each op importer narrows this to the
    /// versions whose semantics it implements (`OpTable`); 23–25 changed only the type
    /// lists of the ops segc imports (new float4/float8/int4 types, refused as types),
    /// apart from attributes that segc refuses by name (Cast `round_mode`,
    /// QuantizeLinear `precision`, DequantizeLinear `output_dtype`).
    package static let opsets: ClosedRange<Int> = 7...25

    /// Reads the ONNX model at `path` into IR. `inputSize` (H, W) fixes symbolic
    /// dimensions and overrides a static size (shapes are then re-inferred).
    package static func load(path: String, inputSize: (Int, Int)?) throws(SegcError) -> ONNXModel {
        let file = try FileBytes(contentsOf: path)
        return try load(file, path: path, inputSize: inputSize)
    }

    package static func load(_ file: FileBytes, path: String, inputSize: (Int, Int)?) throws(SegcError) -> ONNXModel {
        let name = file.name
        do {
            return try loadUnattributed(file, path: path, inputSize: inputSize)
        } catch {
            throw error.inFile(name)
        }
    }

    private static func loadUnattributed(_ file: FileBytes, path: String, inputSize: (Int, Int)?) throws(SegcError) -> ONNXModel {
        let name = file.name
        try Limits.check(file.count, Limits.maxOnnxFileBytes, "ONNX model file size")
        if file.count == 0 { throw SegcError(.malformed, "empty file, not an ONNX model") }
        _ = try PreScan.scan(file.buffer, file: name)
        guard let base = file.buffer.baseAddress,
              let msg = onnx__model_proto__unpack(nil, file.count, base.assumingMemoryBound(to: UInt8.self)) else {
            throw SegcError(.malformed, "invalid protobuf: not a decodable ONNX ModelProto")
        }
        defer { onnx__model_proto__free_unpacked(msg, nil) }
        var conv = ProtoConverter(file: name, external: ExternalData(modelPath: path))
        let model = try conv.convert(UnsafePointer(msg))
        return try Translator.translate(model, inputSize: inputSize)
    }
}

/// ONNX graph → IR.
enum Translator {
    static func translate(_ m: PModel, inputSize: (Int, Int)?) throws(SegcError) -> ONNXModel {
        // IR versions 11–13 (onnx 1.18–1.20) only add element types (refused by name when
        // used) and optional fields that segc's schema subset skips.
        if m.irVersion < 3 || m.irVersion > 13 {
            throw SegcError(.unsupported, "ONNX ir_version \(m.irVersion) (supported: 3–13)")
        }
        guard let opset64 = m.opsets.first(where: { $0.domain == "" || $0.domain == "ai.onnx" })?.version else {
            throw SegcError(.unsupported, "no opset for the default ONNX domain")
        }
        let opset = Int(opset64)
        if opset < ONNXImporter.opsets.lowerBound || opset > ONNXImporter.opsets.upperBound {
            throw SegcError(.unsupported, "opset \(opset) (supported: \(ONNXImporter.opsets.lowerBound)–\(ONNXImporter.opsets.upperBound))")
        }
        if m.sparseInitializers > 0 { throw SegcError(.unsupported, "sparse initializers") }

        var ctx = ImportContext(opset: opset)
        var initNames = Set<String>()
        for (n, t, _) in m.initializers {
            initNames.insert(n)
            ctx.syms[n] = .const(t)
        }

        // The one real input.
        let realInputs = m.inputs.filter { !initNames.contains($0.name) }
        guard realInputs.count == 1, let input = realInputs.first else {
            throw SegcError(.unsupported, "the model has \(realInputs.count) inputs; segc needs exactly one image input")
        }
        if let t = input.elemType, t != ONNXType.float {
            throw SegcError(.unsupported, "input '\(input.name)' is \(ONNXType.name(t)), expected float32")
        }
        guard let dims = input.dims, dims.count == 4 else {
            throw SegcError(.unsupported, "input '\(input.name)' must have rank 4 [N,C,H,W]")
        }
        var dynamic: [String] = []
        var shape = [1, 0, 0, 0]
        switch dims[0] {
        case .value(let v):
            // A fixed batch is kept: the runtime repeats its per-image kernels per image.
            // A symbolic batch is fixed to 1 (one frame at a time, product.md §1).
            guard v >= 1, v <= 4096 else { throw SegcError(.unsupported, "input '\(input.name)' has batch size \(v) (supported: 1–4096)") }
            shape[0] = Int(v)
        case .param(let p): dynamic.append(p)
        case .unknown: break
        }
        // Any static channel count: the channels are fixed by the first layer's weights,
        // so a symbolic one cannot be chosen by segc.
        guard case .value(let c) = dims[1] else {
            throw SegcError(.unsupported, "input '\(input.name)' has a symbolic channel dimension; export it with a fixed channel count")
        }
        guard c >= 1, c <= Int64(Limits.maxDimension) else { throw SegcError(.malformed, "input '\(input.name)' has \(c) channels") }
        shape[1] = Int(c)
        let size = inputSize ?? ONNXImporter.defaultInputSize
        for (k, d) in dims[2...].enumerated() {
            let requested = k == 0 ? size.0 : size.1
            switch d {
            case .value(let v):
                let v = Int(v)
                if v < 1 || v > Limits.maxDimension { throw SegcError(.malformed, "input dimension \(v)") }
                shape[2 + k] = inputSize == nil ? v : requested
            case .param(let p):
                dynamic.append(p); shape[2 + k] = requested
            case .unknown:
                dynamic.append("?"); shape[2 + k] = requested
            }
        }
        if shape[2] < 1 || shape[3] < 1 || shape[2] > Limits.maxImageSide || shape[3] > Limits.maxImageSide {
            throw SegcError(.usage, "input size \(shape[2])x\(shape[3]) out of range")
        }
        let inID = ctx.graph.addInput(input.name, ValueType(.f32, shape))
        ctx.syms[input.name] = .rt(inID, shape)

        // Nodes, in file order (ONNX requires topological order).
        var poisoned = Set<String>()
        var problems: [String] = []
        let table = OpTable.table
        for node in m.nodes {
            ctx.node = node
            let domain = node.domain
            var entry: OpImporter?
            if domain == "" || domain == "ai.onnx" {
                entry = table[node.opType]?.first { $0.opsets.contains(opset) }
            }
            if let entry, node.inputs.contains(where: { poisoned.contains($0) }) {
                // Downstream of an unsupported node: only the input-free checks.
                for p in entry.check?(node) ?? [] { problems.append("\(p) (node '\(node.name)', opset \(opset))") }
                poisoned.formUnion(node.outputs)
                continue
            }
            guard let entry else {
                let what = domain.isEmpty || domain == "ai.onnx" ? node.opType : "\(domain).\(node.opType)"
                problems.append("\(what) (node '\(node.name)', opset \(opset))")
                poisoned.formUnion(node.outputs)
                continue
            }
            if node.opType != "DequantizeLinear", let q = node.inputs.first(where: { ctx.quantized[$0] != nil }) {
                // Activations are quantized only as Q→DQ pairs (simulated int8).
                problems.append("\(node.opType) reading the quantized output '\(q)' of a QuantizeLinear "
                                + "(only DequantizeLinear may) (node '\(node.name)', opset \(opset))")
                poisoned.formUnion(node.outputs)
                continue
            }
            do {
                try entry.run(&ctx)
            } catch {
                if error.kind == .unsupported {
                    problems.append("\(error.message) (node '\(node.name)', opset \(opset))")
                    poisoned.formUnion(node.outputs)
                    continue
                }
                throw error.at(.node(node.name))
            }
            for o in node.outputs where !o.isEmpty && ctx.syms[o] == nil { poisoned.insert(o) }
        }

        guard let out = m.outputs.first else { throw SegcError(.malformed, "the graph has no output") }
        if !problems.isEmpty {
            throw SegcError(.unsupported, "unsupported: " + problems.joined(separator: "; "))
        }

        if ctx.quantized[out.name] != nil {
            throw SegcError(.unsupported, "graph output '\(out.name)' is the int8 output of a QuantizeLinear")
        }
        guard let sym = ctx.syms[out.name] else {
            throw SegcError(.malformed, "graph output '\(out.name)' is not produced by any node")
        }
        guard case .rt(let viewed, _) = sym, ctx.graph.type(of: viewed).dtype == .f32,
              let outID = try? ctx.materialise(out.name) else {
            throw SegcError(.unsupported, "graph output '\(out.name)' is not a float32 tensor computed from the input")
        }
        ctx.graph.outputs = [outID]
        var outputNames = [out.name]
        // Further outputs are kept when they are float32 tensors computed from the input
        // (a plan's outputs are float32); others are left out, with a warning naming them.
        for extra in m.outputs.dropFirst() {
            if case .rt(let viewed, _)? = ctx.syms[extra.name], ctx.quantized[extra.name] == nil,
               ctx.graph.type(of: viewed).dtype == .f32, let id = try? ctx.materialise(extra.name),
               !ctx.graph.outputs.contains(id), !ctx.graph.inputs.contains(id) {
                ctx.graph.outputs.append(id)
                outputNames.append(extra.name)
            } else {
                ctx.warnings.append("graph output '\(extra.name)' left out: segc plan outputs are distinct float32 tensors computed from the input")
            }
        }
        let graph = try Compact.compact(ctx.graph)
        try graph.verify()

        // Statistics.
        var bnStats = Set<String>()
        for n in m.nodes where n.opType == "BatchNormalization" {
            if n.inputs.count > 3 { bnStats.insert(n.inputs[3]) }
            if n.inputs.count > 4 { bnStats.insert(n.inputs[4]) }
        }
        // Shape-like inputs (Resize/Upsample scales, Pad amounts, ...) are not parameters;
        // quantized weights feeding DequantizeLinear are.
        var shapeLike = Set<String>(), dequantized = Set<String>()
        for n in m.nodes {
            switch n.opType {
            case "Resize", "Upsample", "Pad", "Reshape", "Expand", "Slice", "ConstantOfShape", "Tile":
                shapeLike.formUnion(n.inputs.dropFirst())
            case "DequantizeLinear":
                if let first = n.inputs.first { dequantized.insert(first) }
                shapeLike.formUnion(n.inputs.dropFirst())
            case "QuantizeLinear":
                shapeLike.formUnion(n.inputs.dropFirst())
            default: break
            }
        }
        var params = 0
        for (n, t, _) in m.initializers where !bnStats.contains(n) && !shapeLike.contains(n) {
            if !t.isIntegral || dequantized.contains(n) { params += t.storage.count }
        }
        var producer = m.producer
        if !m.producerVersion.isEmpty { producer += (producer.isEmpty ? "" : " ") + m.producerVersion }
        return ONNXModel(graph: graph, irVersion: Int(m.irVersion), opset: opset, producer: producer,
                         dynamicDims: dynamic, initializerCount: m.initializers.count, parameterCount: params,
                         warnings: ctx.warnings, outputNames: outputNames)
    }
}

/// Dead-node removal and renumbering.
enum Compact {
    static func compact(_ g: Graph) throws(SegcError) -> Graph {
        var live = Set(g.outputs)
        var keep = [Bool](repeating: false, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated().reversed() where n.outputs.contains(where: { live.contains($0) }) {
            keep[i] = true
            live.formUnion(n.inputs)
        }
        var out = Graph()
        var map: [ValueID: ValueID] = [:]
        for v in g.inputs { map[v] = out.addInput(g.values[v.index].name, g.type(of: v)) }
        for (i, n) in g.nodes.enumerated() where keep[i] {
            var ins: [ValueID] = []
            for v in n.inputs {
                if let m = map[v] { ins.append(m); continue }
                guard let t = g.constants[v] else {
                    throw SegcError(.mismatch, "value \(v) used before it is defined", at: .node(n.name))
                }
                let m = out.addConstant(g.values[v.index].name, t)
                map[v] = m
                ins.append(m)
            }
            var op = n.op
            if case .maxPool2d(var p) = op, p.returnsIndices, n.outputs.count == 2, !live.contains(n.outputs[1]) {
                p.returnsIndices = false
                op = .maxPool2d(p)
            }
            let outs = try out.add(op, ins, name: n.name)
            for (k, o) in outs.enumerated() { map[n.outputs[k]] = o }
        }
        for v in g.outputs {
            guard let m = map[v] else { throw SegcError(.mismatch, "graph output is not computed") }
            out.outputs.append(m)
        }
        return out
    }
}
