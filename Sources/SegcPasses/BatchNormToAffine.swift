import SegcCore
import SegcIR

/// Replaces every inference-mode BatchNorm by a per-channel affine
/// `y = x·α + β` with α = γ / √(var + ε), β = bias − mean·α (computed in Double,
/// rounded once). Later passes fold the affine into the producing convolution.
package struct BatchNormToAffine: GraphPass {
    package let name = "batchnorm-to-affine"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        for i in graph.nodes.indices {
            guard case .batchNorm(let bn) = graph.nodes[i].op else { continue }
            let ins = graph.nodes[i].inputs
            guard let gamma = graph.constants[ins[1]]?.floats(), let beta = graph.constants[ins[2]]?.floats(),
                  let mean = graph.constants[ins[3]]?.floats(), let variance = graph.constants[ins[4]]?.floats() else {
                continue  // statistics computed at run time: leave the BN alone
            }
            let (alpha, shift) = bn.affine(gamma: gamma, beta: beta, mean: mean, variance: variance)
            let name = graph.nodes[i].name
            let a = graph.addConstant("\(name).scale", Tensor(alpha, shape: [gamma.count]))
            let b = graph.addConstant("\(name).shift", Tensor(shift, shape: [gamma.count]))
            graph.nodes[i].op = .channelAffine
            graph.nodes[i].inputs = [ins[0], a, b]
        }
        graph.eliminateDeadCode()
    }
}
