import SegcCore
import SegcIR

/// ReLU / PReLU right after a convolution (possibly after a fused residual)
/// becomes the conv's epilogue activation, when the conv output has no other
/// reader, and its grid (`Value.grid`, a quantized source's), if any, is the activation's
/// (a ReLU then commutes with the rounding). The activation runs on the tile while it is
/// in cache.
package struct FuseActivation: GraphPass {
    package let name = "fuse-activation"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            let act: Activation
            switch node.op {
            case .relu: act = .relu
            case .prelu: act = .prelu
            default: continue
            }
            let uses = graph.useCounts()
            let producers = graph.producers()
            guard let pi = producers[node.inputs[0].index], uses[node.inputs[0].index] == 1 else { continue }
            if let g = graph.values[node.inputs[0].index].grid, g != graph.values[node.outputs[0].index].grid { continue }
            var conv = graph.nodes[pi]
            var slope: ValueID?
            if act == .prelu {
                guard graph.isConstant(node.inputs[1]) else { continue }
                slope = node.inputs[1]
            }
            switch conv.op {
            case .conv2d(var a) where a.epilogue.activation == .none:
                a.epilogue.activation = act; conv.op = .conv2d(a)
            case .convTranspose2d(var a) where a.epilogue.activation == .none:
                a.epilogue.activation = act; conv.op = .convTranspose2d(a)
            default: continue
            }
            // Epilogue operand order: bias, slope, residual.
            if let slope {
                let hasBias: Bool
                switch conv.op {
                case .conv2d(let a): hasBias = a.hasBias
                case .convTranspose2d(let a): hasBias = a.hasBias
                default: hasBias = false
                }
                conv.inputs.insert(slope, at: hasBias ? 3 : 2)
            }
            conv.outputs = node.outputs
            graph.nodes[pi] = conv
            graph.nodes[i].inputs = []; graph.nodes[i].outputs = []
        }
        graph.nodes.removeAll { $0.outputs.isEmpty }
        graph.eliminateDeadCode()
    }
}
