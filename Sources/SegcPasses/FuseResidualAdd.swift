import SegcCore
import SegcIR

/// `add(conv(x), r)` → conv with a residual epilogue, when the conv output has
/// no other reader, its epilogue is still empty, and `r` is already computed
/// when the conv runs (defined earlier in the node order), and the conv output has no
/// grid (`Value.grid`: a quantized source rounds it before the add, which the int8 add
/// of `Int8Lowering` reproduces and a fused residual would skip). Saves one full pass
/// over the activation.
package struct FuseResidualAdd: GraphPass {
    package let name = "fuse-residual-add"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            guard case .add = node.op, node.inputs.count == 2 else { continue }
            let uses = graph.useCounts()
            let producers = graph.producers()
            for (convSide, otherSide) in [(0, 1), (1, 0)] {
                let cv = node.inputs[convSide], other = node.inputs[otherSide]
                guard let pi = producers[cv.index], uses[cv.index] == 1, graph.values[cv.index].grid == nil,
                      graph.type(of: cv).shape == graph.type(of: other).shape, !graph.isConstant(other) else { continue }
                let definedBefore = producers[other.index].map { $0 < pi } ?? true
                guard definedBefore else { continue }
                var conv = graph.nodes[pi]
                switch conv.op {
                case .conv2d(var a) where a.epilogue == .none:
                    a.epilogue.residual = true; conv.op = .conv2d(a)
                case .convTranspose2d(var a) where a.epilogue == .none:
                    a.epilogue.residual = true; conv.op = .convTranspose2d(a)
                default: continue
                }
                conv.inputs.append(other)
                conv.outputs = node.outputs
                graph.nodes[pi] = conv
                graph.nodes[i].inputs = []; graph.nodes[i].outputs = []
                break
            }
        }
        graph.nodes.removeAll { $0.outputs.isEmpty }
        graph.eliminateDeadCode()
    }
}
