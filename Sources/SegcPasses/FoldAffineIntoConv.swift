import SegcCore
import SegcIR

/// Folds a per-channel affine (a former BatchNorm) into the convolution or
/// transposed convolution that produces its input: W'[co] = W[co]·α[co],
/// b' = b·α + β. Only when the conv output has no other reader and no epilogue
/// yet, and no grid (`Value.grid`: a quantized source rounds it before the affine). Weight arithmetic is done in Double and rounded once.
package struct FoldAffineIntoConv: GraphPass {
    package let name = "fold-batchnorm"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            guard case .channelAffine = node.op else { continue }
            let uses = graph.useCounts()
            let producers = graph.producers()
            guard let pi = producers[node.inputs[0].index], uses[node.inputs[0].index] == 1,
                  graph.values[node.inputs[0].index].grid == nil,
                  let alpha = graph.constants[node.inputs[1]]?.floats(),
                  let beta = graph.constants[node.inputs[2]]?.floats() else { continue }
            var conv = graph.nodes[pi]
            switch conv.op {
            case .conv2d, .convTranspose2d: break
            default: continue  // e.g. the pooled branch of a downsampler keeps its affine
            }
            let wID = conv.inputs[1]
            guard let w = graph.constants[wID] else { continue }
            var weights = w.floats()
            let shape = w.shape
            let cout = alpha.count
            switch conv.op {
            case .conv2d(var a) where a.epilogue == .none:
                let per = weights.count / cout
                for co in 0..<cout { for j in 0..<per { weights[co * per + j] = Float(Double(weights[co * per + j]) * Double(alpha[co])) } }
                a.hasBias = true
                conv.op = .conv2d(a)
            case .convTranspose2d(var a) where a.epilogue == .none && a.groups == 1:
                // weight [Cin, Cout, kh, kw]: scale along axis 1.
                let k = shape[2] * shape[3]
                for ci in 0..<shape[0] { for co in 0..<cout { for j in 0..<k {
                    let idx = (ci * cout + co) * k + j
                    weights[idx] = Float(Double(weights[idx]) * Double(alpha[co]))
                } } }
                a.hasBias = true
                conv.op = .convTranspose2d(a)
            default:
                continue
            }
            let hadBias = conv.inputs.count > 2
            let oldBias = hadBias ? (graph.constants[conv.inputs[2]]?.floats() ?? [Float](repeating: 0, count: cout))
                                  : [Float](repeating: 0, count: cout)
            var bias = [Float](repeating: 0, count: cout)
            for c in 0..<cout { bias[c] = Float(Double(oldBias[c]) * Double(alpha[c]) + Double(beta[c])) }
            let newW = graph.addConstant(graph.values[wID.index].name, Tensor(weights, shape: shape))
            let newB = graph.addConstant("\(conv.name).bias", Tensor(bias, shape: [cout]))
            conv.inputs = [conv.inputs[0], newW, newB]
            // The conv now defines the affine's output; the affine disappears.
            conv.outputs = node.outputs
            graph.nodes[pi] = conv
            graph.nodes[i].outputs = []
            graph.nodes[i].inputs = []
        }
        graph.nodes.removeAll { $0.outputs.isEmpty }
        graph.eliminateDeadCode()
    }
}
