import SegcCore
import SegcIR

/// Real int8 from a quantized source model (ONNX QDQ, an FX checkpoint's qparams): each
/// uint8 `quantizeDequantize` on an activation is removed and becomes the grid
/// (`Value.grid`) of the value it quantizes. It runs before the fusion passes, because a
/// Q/DQ between a conv and its add / ReLU blocks them; the grids ride on the values
/// through the passes, and `Int8Lowering` then requantizes onto the model's own scales.
///
/// * Zero point 0 on a value that may be negative: the Q/DQ clamps at 0, i.e. it is a
///   ReLU the exporter dropped (ORT removes a Relu in front of a QuantizeLinear whose range
///   starts at 0). The node becomes an explicit `relu` with the same output, so the float
///   view of the graph keeps the clamp and `FuseActivation` folds it into the conv.
/// * The input of a ReLU with no other reader shares the ReLU's zero-point-0 grid: on that
///   grid rounding clamps at 0 anyway, so its producer can write it directly.
/// * Kept, simulated in float32: int8 (signed) Q/DQ, one whose output is a graph output
///   (the model's outputs are rounded, e.g. ORT's and FX's quantized logits), and a second
///   Q/DQ with another grid on a value that already has one.
package struct QDQToGrids: GraphPass {
    package let name = "qdq-to-grids"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        var uses = graph.useCounts()
        // Node indices stay valid: nodes are rewritten in place and removed only at the end.
        let producers = graph.producers()
        let outputs = Set(graph.outputs)
        var memo: [ValueID: Bool] = [:]
        func nonNegative(_ v: ValueID) -> Bool {
            if let m = memo[v] { return m }
            guard let p = producers[v.index] else { return false }
            let node = graph.nodes[p]
            let r: Bool
            switch node.op {
            case .relu, .sigmoid: r = true
            case .quantizeDequantize(let q): r = q.zeroPoint == q.qmin
            case .maxPool2d: r = v == node.outputs[0] && nonNegative(node.inputs[0])
            case .avgPool2d, .globalAveragePool: r = nonNegative(node.inputs[0])
            // Nearest and bilinear weights are non-negative (cubic ones are not).
            case .resize(let z): r = z.mode != .cubic && nonNegative(node.inputs[0])
            case .concat: r = node.inputs.allSatisfy { !graph.isConstant($0) && nonNegative($0) }
            default: r = false
            }
            memo[v] = r
            return r
        }

        for i in graph.nodes.indices {
            guard case .quantizeDequantize(let q) = graph.nodes[i].op, q.qmin == 0, q.qmax == 255 else { continue }
            let x = graph.nodes[i].inputs[0], y = graph.nodes[i].outputs[0]
            if outputs.contains(y) || graph.values[x.index].grid.map({ $0 != q }) ?? false {
                graph.values[y.index].grid = q   // kept; its output lies on the grid
                continue
            }
            if q.zeroPoint == 0 && !nonNegative(x) {
                graph.nodes[i].op = .relu
                graph.values[y.index].grid = q
                // Other readers of x see it unclamped, so only a sole reader lets x share the grid.
                if uses[x.index] == 1 { graph.values[x.index].grid = q }
                memo[y] = true
            } else {
                graph.values[x.index].grid = q
                graph.replaceUses(of: y, with: x)
                uses[x.index] += uses[y.index] - 1
                graph.nodes[i].inputs = []
                graph.nodes[i].outputs = []
            }
            if q.zeroPoint == 0, let p = producers[x.index], case .relu = graph.nodes[p].op {
                let v = graph.nodes[p].inputs[0]
                if uses[v.index] == 1 && graph.values[v.index].grid == nil { graph.values[v.index].grid = q }
            }
        }
        graph.nodes.removeAll { $0.outputs.isEmpty }
        graph.eliminateDeadCode()
    }
}
