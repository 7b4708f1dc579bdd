import SegcCore
import SegcIR

/// `convert --keep-quant` of a PyTorch FX-quantized checkpoint: its activation qparams
/// become uint8 quantize-dequantize nodes in the float graph the builder made from the
/// dequantized weights — the graph an ONNX QDQ model gives — so that `QDQToGrids` and
/// `Int8Lowering` turn it into real int8 on the checkpoint's own scales.
///
/// Where FX puts each quantization, and where the node goes:
/// * `<module>.scale` / `.zero_point` (a quantized module's output): after the node named
///   `<module>`, or after the ReLU that is its only reader (FX fuses Conv+ReLU and BN+ReLU,
///   so the module's output is the ReLU's).
/// * `<name>_input_scale_0` (FX's quantization of a module input, e.g. the network's): on
///   the first input of the node whose path, dots as underscores, is `<name>`.
/// * `<path>_scale_0` (a functional op inside module `<path>`, e.g. ERFNet's `add_relu`):
///   after the last node under `<path>` (the op that ends the block).
/// * Quantized max pooling keeps its input's qparams and `torch.cat` takes its first
///   input's (measured with torch 2.15), so they inherit those without a key of their own.
/// Qparams of modules that have no node (dropout: identity at inference) are reported.
package enum FXActivationGrids {
    /// Inserts the nodes; returns how many and a warning per group of unused qparams.
    /// Throws when the checkpoint has no activation qparams at all.
    package static func insert(into graph: inout Graph, tensors: [(key: String, tensor: Tensor)],
                               file: String) throws(SegcError) -> (count: Int, warnings: [String]) {
        var byKey: [String: Tensor] = [:]
        for (k, t) in tensors { byKey[k] = t }
        func grid(_ scaleKey: String, _ zpKey: String) throws(SegcError) -> QuantizeDequantize? {
            guard let s = byKey[scaleKey], let z = byKey[zpKey], s.storage.count == 1, z.storage.count == 1 else { return nil }
            let scale = s.floats()[0], zp = Double(z.floats()[0])
            guard scale.isFinite, scale > 0, zp >= 0, zp <= 255, zp == zp.rounded() else {
                throw SegcError(.malformed, "activation qparams scale \(scale), zero point \(zp) are not a uint8 grid",
                                file: file, at: .key(scaleKey))
            }
            return QuantizeDequantize(scale: scale, zeroPoint: Int(zp), signed: false)
        }
        let underscored = graph.nodes.map { $0.name.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "_") }
        var nodeNamed: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { nodeNamed[n.name] = i }
        let uses = readers(graph)

        var target: [ValueID: QuantizeDequantize] = [:]
        var unused: [String] = []
        for (key, _) in tensors {
            if key.hasSuffix(".scale"), let q = try grid(key, String(key.dropLast(6)) + ".zero_point") {
                let module = String(key.dropLast(6))
                guard let i = nodeNamed[module], let y = graph.nodes[i].outputs.first else { unused.append(module); continue }
                let r = uses[y] ?? []
                if r.count == 1, case .relu = graph.nodes[r[0]].op, !graph.outputs.contains(y) {
                    target[graph.nodes[r[0]].outputs[0]] = q
                } else {
                    target[y] = q
                }
            } else if key.hasSuffix("_scale_0"), let q = try grid(key, String(key.dropLast(8)) + "_zero_point_0") {
                let path = String(key.dropLast(8))
                if path.hasSuffix("_input"), let i = underscored.firstIndex(of: String(path.dropLast(6))),
                   let x = graph.nodes[i].inputs.first(where: { !graph.isConstant($0) }) {
                    target[x] = q
                } else if let i = underscored.lastIndex(where: { $0.hasPrefix(path + "_") }) {
                    target[graph.nodes[i].outputs[0]] = q
                } else {
                    unused.append(path)
                }
            }
        }
        guard !target.isEmpty else {
            throw SegcError(.unsupported, "--keep-quant: no activation quantization parameters (`<module>.scale`, "
                            + "`.zero_point`) match the network; is it an FX-quantized checkpoint?", file: file)
        }
        for n in graph.nodes {
            switch n.op {
            case .maxPool2d: if target[n.outputs[0]] == nil, let q = target[n.inputs[0]] { target[n.outputs[0]] = q }
            case .concat: if target[n.outputs[0]] == nil, let q = target[n.inputs[0]] { target[n.outputs[0]] = q }
            default: break
            }
        }
        for (v, q) in target.sorted(by: { $0.key < $1.key }) { try wrap(&graph, v, q) }
        var warnings: [String] = []
        if !unused.isEmpty {
            warnings.append("--keep-quant: \(unused.count) activation qparams of modules with no node in the graph "
                            + "(dropout is identity at inference) are not used: \(unused.joined(separator: ", "))")
        }
        return (target.count, warnings)
    }

    /// Node indices reading each value.
    static func readers(_ graph: Graph) -> [ValueID: [Int]] {
        var r: [ValueID: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() { for v in n.inputs { r[v, default: []].append(i) } }
        return r
    }

    /// `v` → quantize-dequantize → `v'`, placed right after `v`'s producer (first for the
    /// graph input); every reader of `v`, and the graph outputs, take `v'`.
    static func wrap(_ graph: inout Graph, _ v: ValueID, _ q: QuantizeDequantize) throws(SegcError) {
        let at = (graph.nodes.firstIndex { $0.outputs.contains(v) }).map { $0 + 1 } ?? 0
        let y = ValueID(graph.values.count)
        let name = graph.values[v.index].name + ".quant"
        graph.values.append(Value(name: name, type: graph.type(of: v)))
        for i in graph.nodes.indices {
            for j in graph.nodes[i].inputs.indices where graph.nodes[i].inputs[j] == v { graph.nodes[i].inputs[j] = y }
        }
        for j in graph.outputs.indices where graph.outputs[j] == v { graph.outputs[j] = y }
        graph.nodes.insert(Node(name: name, op: .quantizeDequantize(q), inputs: [v], outputs: [y]), at: at)
    }
}
