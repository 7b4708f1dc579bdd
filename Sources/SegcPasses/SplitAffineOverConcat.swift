import SegcCore
import SegcIR

/// `affine(concat(a, b, …))` → `concat(affine(a), affine(b), …)` when the concat
/// has no other reader, so each branch's slice of the affine can fold into its
/// own producer (ERFNet/ENet/MiDE-Net downsamplers: BN after conv ‖ pool). Not when a
/// quantized source rounds the concat on a grid (`Value.grid`) before the affine.
package struct SplitAffineOverConcat: GraphPass {
    package let name = "split-affine-over-concat"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        var i = 0
        while i < graph.nodes.count {
            defer { i += 1 }
            let node = graph.nodes[i]
            guard case .channelAffine = node.op else { continue }
            let uses = graph.useCounts()
            let producers = graph.producers()
            guard let pi = producers[node.inputs[0].index], case .concat(let axis) = graph.nodes[pi].op, axis == 1,
                  uses[node.inputs[0].index] == 1, graph.values[node.inputs[0].index].grid == nil,
                  let scale = graph.constants[node.inputs[1]]?.floats(),
                  let shift = graph.constants[node.inputs[2]]?.floats() else { continue }
            let concat = graph.nodes[pi]
            // Build per-branch affines, inserted right before the affine node (all
            // branch inputs are defined before the concat, hence before it).
            var newNodes: [Node] = []
            var branchOutputs: [ValueID] = []
            var offset = 0
            for (k, x) in concat.inputs.enumerated() {
                let t = graph.type(of: x)
                let c = t.shape[1]
                let s = graph.addConstant("\(node.name).scale.\(k)", Tensor(Array(scale[offset..<offset + c]), shape: [c]))
                let b = graph.addConstant("\(node.name).shift.\(k)", Tensor(Array(shift[offset..<offset + c]), shape: [c]))
                let y = ValueID(graph.values.count)
                graph.values.append(Value(name: "\(node.name).\(k)", type: t))
                newNodes.append(Node(name: "\(node.name).\(k)", op: .channelAffine, inputs: [x, s, b], outputs: [y]))
                branchOutputs.append(y)
                offset += c
            }
            // The concat now joins the affine outputs and defines the old affine's output.
            let newConcat = Node(name: concat.name, op: concat.op, inputs: branchOutputs, outputs: node.outputs)
            graph.nodes[i] = newConcat
            graph.nodes.insert(contentsOf: newNodes, at: i)
            graph.nodes.remove(at: pi)
            i += newNodes.count - 1
        }
        graph.eliminateDeadCode()
    }
}
