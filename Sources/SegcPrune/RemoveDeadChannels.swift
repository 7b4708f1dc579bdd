import SegcCore
import SegcIR
import SegcPasses

/// Removes channels that are exactly zero for every input: a channel whose every producer
/// conv has an all-zero filter for it and whose epilogue maps the bias to 0 (ReLU of a
/// bias <= 0, or no activation and bias 0). Exact — the channel adds +0 to every sum that
/// reads it; only the grouping of the remaining sums can move (GEMM blocks over a shorter
/// K: ERFNet's logits on city1 differ by at most 5.7e-6, argmax 100 %) — unlike
/// `segc prune`, which is an approximation the user asks for.
///
/// Why: checkpoints carry such channels. ERFNet's has 708,810 zero conv weights of 2.05 M
/// (whole filters zeroed, the paper's L2 structured pruning or weight decay on dead BN
/// channels); removing the dead ones takes it from 26.61 to 20.68 GMACs and 8.26 to 6.31 MB.
/// ONNX Runtime computes them; segc does not need to.
///
/// Only groups whose every value is written by one of the group's producer convs are
/// considered (a pool, affine or concat inside a group would need its own proof).
package struct RemoveDeadChannels: GraphPass {
    package let name = "remove-dead-channels"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        let groups = ChannelGroups(graph)
        let producer = graph.producers()
        var keep: [Int: [Int]] = [:]
        for (gi, group) in groups.groups.enumerated() where group.prunable && !group.producers.isEmpty {
            guard group.values.allSatisfy({ producer[$0.index].map(group.producers.contains) ?? false }) else { continue }
            var alive = [Bool](repeating: false, count: group.channels)
            for p in group.producers { Self.markAlive(graph.nodes[p], graph, &alive) }
            let kept = alive.indices.filter { alive[$0] }
            if kept.count < group.channels { keep[gi] = kept.isEmpty ? [0] : kept }
        }
        if keep.isEmpty { return }
        graph = try ChannelPruning.prune(graph, groups: groups, keep: keep).graph
    }

    /// Sets alive[c] for each output channel of conv `n` that can be non-zero: its filter
    /// is not all zero, or its epilogue does not map the bias to 0.
    static func markAlive(_ n: Node, _ g: Graph, _ alive: inout [Bool]) {
        let hasBias: Bool, activation: Activation
        switch n.op {
        case .conv2d(let c): hasBias = c.hasBias; activation = c.epilogue.activation
        case .convTranspose2d(let c): hasBias = c.hasBias; activation = c.epilogue.activation
        default: return alive = alive.map { _ in true }
        }
        let bias = hasBias ? g.constants[n.inputs[2]]?.floats() : nil
        guard let norms = ChannelPruning.filterNorms(g, n), norms.count == alive.count, !hasBias || bias?.count == alive.count else {
            return alive = alive.map { _ in true }
        }
        for c in alive.indices where !alive[c] {
            let b = bias?[c] ?? 0
            let biasMapsToZero = activation == .relu ? b <= 0 : b == 0
            if norms[c] != 0 || !biasMapsToZero { alive[c] = true }
        }
    }
}
