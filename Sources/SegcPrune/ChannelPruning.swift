import SegcCore
import SegcIR

/// Structured filter pruning that removes channels from the graph (issue 15): for each
/// prunable `ChannelGroups` group, the channels with the lowest L2 importance are taken
/// out of every member — producer conv rows (weight axis 0, bias, PReLU slope),
/// channel-wise affine/PReLU constants, consumer conv columns (weight axis 1; axis 0 of
/// a transposed conv's [cin, cout, kh, kw] weight) — and the graph is rebuilt with shape
/// inference and verified.
package enum ChannelPruning {
    package struct Options: Sendable {
        /// Fraction of each group's channels removed: ⌊ratio·n⌋, at least one kept.
        package var ratio: Double
        /// Rank channels across groups (importance normalised by each group's mean) instead
        /// of removing the same fraction of every group.
        package var global = false
        package init(ratio: Double, global: Bool = false) { self.ratio = ratio; self.global = global }
    }

    package struct Result {
        package var graph: Graph
        /// For each pruned group: its channel count before and the channels kept.
        package var kept: [(before: Int, kept: [Int])]
        /// Per node index (same order in both graphs): channels kept of its main input and
        /// of its output, where those were pruned.
        package var inputKept: [Int: [Int]] = [:]
        package var outputKept: [Int: [Int]] = [:]
    }

    /// Squared L2 norm of each output channel's filter of conv / transposed conv `n`
    /// (nil when its weight is not a constant).
    package static func filterNorms(_ g: Graph, _ n: Node) -> [Double]? {
        guard let w = g.constants[n.inputs[1]]?.floats() else { return nil }
        let shape = g.type(of: n.inputs[1]).shape
        if case .convTranspose2d = n.op {   // [cin, cout/g, kh, kw]: output channel on axis 1
            var norms = [Double](repeating: 0, count: shape[1])
            let per = shape[2] * shape[3]
            for ci in 0..<shape[0] { for co in 0..<shape[1] { for k in 0..<per {
                let v = Double(w[(ci * shape[1] + co) * per + k]); norms[co] += v * v
            } } }
            return norms
        }
        var norms = [Double](repeating: 0, count: shape[0])
        let per = w.count / max(1, shape[0])
        for co in 0..<shape[0] { for k in 0..<per { let v = Double(w[co * per + k]); norms[co] += v * v } }
        return norms
    }

    /// L2 importance of each channel of a group: the squared norm of every producer's
    /// filter for that channel, each producer's norms divided by their sum (so producers
    /// of different scales weigh the same), summed over producers.
    package static func importance(_ g: Graph, _ group: ChannelGroups.Group) -> [Double] {
        var imp = [Double](repeating: 0, count: group.channels)
        for p in group.producers {
            guard let norms = filterNorms(g, g.nodes[p]) else { continue }
            let total = norms.reduce(0, +)
            for c in 0..<group.channels { imp[c] += total > 0 ? norms[c] / total : 0 }
        }
        return imp
    }

    package static func prune(_ g: Graph, options: Options) throws(SegcError) -> Result {
        guard options.ratio >= 0, options.ratio < 1 else { throw SegcError(.usage, "--ratio must be in [0, 1), got \(options.ratio)") }
        let groups = ChannelGroups(g)
        var keep: [Int: [Int]] = [:]   // group index → kept channels (sorted)
        let candidates = groups.groups.indices.filter { groups.groups[$0].prunable }
        let importances = Dictionary(uniqueKeysWithValues: candidates.map { ($0, importance(g, groups.groups[$0])) })
        if options.global {
            var all: [(Double, Int, Int)] = []   // (normalised importance, group, channel)
            for gi in candidates {
                let imp = importances[gi]!
                let mean = imp.reduce(0, +) / Double(max(1, imp.count))
                for (c, v) in imp.enumerated() { all.append((mean > 0 ? v / mean : 0, gi, c)) }
            }
            all.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
            var removed = Set<[Int]>()
            var left = Dictionary(uniqueKeysWithValues: candidates.map { ($0, groups.groups[$0].channels) })
            var budget = Int((options.ratio * Double(all.count)).rounded(.down))
            for (_, gi, c) in all where budget > 0 && left[gi]! > 1 {
                removed.insert([gi, c]); left[gi]! -= 1; budget -= 1
            }
            for gi in candidates { keep[gi] = (0..<groups.groups[gi].channels).filter { !removed.contains([gi, $0]) } }
        } else {
            for gi in candidates {
                let n = groups.groups[gi].channels
                let drop = min(n - 1, Int((options.ratio * Double(n)).rounded(.down)))
                let order = importances[gi]!.enumerated().sorted { ($0.element, $0.offset) < ($1.element, $1.offset) }.map(\.offset)
                keep[gi] = Array(order[drop...]).sorted()
            }
        }
        return try prune(g, groups: groups, keep: keep)
    }

    /// Removes every channel of `groups` not in `keep` (group index → kept channels, sorted).
    package static func prune(_ g: Graph, groups: ChannelGroups, keep: [Int: [Int]]) throws(SegcError) -> Result {
        let keep = keep.filter { groups.groups[$0.key].channels != $0.value.count }
        let graph = try rebuild(g, groups: groups, keep: keep)
        var result = Result(graph: graph, kept: keep.keys.sorted().map { (groups.groups[$0].channels, keep[$0]!) })
        for (i, n) in g.nodes.enumerated() {
            if let gi = n.inputs.first.flatMap({ groups.groupOf[$0] }), let k = keep[gi] { result.inputKept[i] = k }
            if let gi = n.outputs.first.flatMap({ groups.groupOf[$0] }), let k = keep[gi] { result.outputKept[i] = k }
        }
        return result
    }

    /// Slices `t` along `axis` to the channels `kept`.
    static func slice(_ t: Tensor, axis: Int, kept: [Int]) -> Tensor {
        let shape = t.shape
        let v = t.floats()
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *), n = shape[axis]
        var out: [Float] = []
        out.reserveCapacity(outer * kept.count * inner)
        for o in 0..<outer { for c in kept { out.append(contentsOf: v[((o * n + c) * inner)..<((o * n + c + 1) * inner)]) } }
        var s = shape
        s[axis] = kept.count
        return Tensor(out, shape: s)
    }

    /// A new graph with every node re-added (shapes re-inferred) and the constants of
    /// affected nodes sliced.
    static func rebuild(_ g: Graph, groups: ChannelGroups, keep: [Int: [Int]]) throws(SegcError) -> Graph {
        var out = Graph()
        var map: [ValueID: ValueID] = [:]
        for v in g.inputs { map[v] = out.addInput(g.values[v.index].name, g.type(of: v)) }
        func kept(_ v: ValueID) -> [Int]? { groups.groupOf[v].flatMap { keep[$0] } }
        for n in g.nodes {
            var inputs: [ValueID] = []
            let outKept = n.outputs.first.flatMap(kept)
            let inKept = n.inputs.first.flatMap(kept)
            for (k, v) in n.inputs.enumerated() {
                if let m = map[v] { inputs.append(m); continue }
                guard var t = g.constants[v] else { throw SegcError(.mismatch, "internal error: value \(v) undefined") }
                if t.dtype == .f32 || t.dtype == .f64 {
                    t = sliced(n, operand: k, t, outKept: outKept, inKept: inKept)
                }
                let id = out.addConstant(g.values[v.index].name, t)
                inputs.append(id)
            }
            let outs = try out.add(n.op, inputs, name: n.name)
            for (a, b) in zip(n.outputs, outs) { map[a] = b }
        }
        out.outputs = g.outputs.compactMap { map[$0] }
        try out.verify()
        return out
    }

    /// The constant operand `k` of node `n`, sliced for the pruned channels of its output
    /// (`outKept`) and input (`inKept`) groups.
    static func sliced(_ n: Node, operand k: Int, _ t: Tensor, outKept: [Int]?, inKept: [Int]?) -> Tensor {
        var t = t
        switch n.op {
        case .conv2d:
            if k == 1 {
                if let o = outKept { t = slice(t, axis: 0, kept: o) }
                if let i = inKept { t = slice(t, axis: 1, kept: i) }
            } else if let o = outKept, t.shape.count == 1, t.shape[0] > 1 {   // bias, per-channel slope
                t = slice(t, axis: 0, kept: o)
            }
        case .convTranspose2d:
            if k == 1 {
                if let i = inKept { t = slice(t, axis: 0, kept: i) }
                if let o = outKept { t = slice(t, axis: 1, kept: o) }
            } else if let o = outKept, t.shape.count == 1, t.shape[0] > 1 {
                t = slice(t, axis: 0, kept: o)
            }
        case .channelAffine, .prelu, .batchNorm:
            if let o = outKept, t.shape.count >= 1, t.shape[0] > 1 {
                // [C] or [C,1,1] per-channel constants
                t = slice(t, axis: 0, kept: o)
            }
        default: break
        }
        return t
    }
}
