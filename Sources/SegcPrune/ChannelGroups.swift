import SegcCore
import SegcIR
import SegcPasses

/// Channel dependency groups (issue 15): activations whose channel axis must be pruned
/// together. Ops that keep channels one-to-one (affine, activations, pools, resize,
/// elementwise binaries, unpool with its indices, a conv's residual) join their inputs'
/// and outputs' groups; an ungrouped convolution starts a new group at its output and
/// *consumes* its input's group (its weight's axis 1). A group is prunable when every
/// value in it is produced by such ops from ungrouped conv outputs, and none of it is the
/// graph's input or output (that would change the network's shape).
///
/// Not pruned (the group is frozen): concat members (their slices would need
/// re-indexing), grouped convolutions, broadcasting binaries, a per-channel constant
/// operand, pads or softmax over the channel axis, and anything unknown.
package struct ChannelGroups {
    package struct Group {
        /// Activations in the group (all have the same channel count).
        package var values: [ValueID] = []
        /// Convolutions (conv2d, conv_transpose2d) whose output starts the group.
        package var producers: [Int] = []
        /// Convolutions reading the group as their main input.
        package var consumers: [Int] = []
        /// Channel-wise nodes inside the group with per-channel constants (affine, prelu).
        package var channelwise: [Int] = []
        package var channels: Int
        package var prunable: Bool
    }

    package var groups: [Group] = []
    /// Group index of each activation value (nil: not rank-4 float).
    package var groupOf: [ValueID: Int] = [:]

    package init(_ g: Graph) {
        var parent: [Int: Int] = [:]
        var frozen = Set<Int>()
        func find(_ x: Int) -> Int {
            var r = x
            while let p = parent[r], p != r { r = p }
            var y = x
            while let p = parent[y], p != r { parent[y] = r; y = p }
            return r
        }
        func isChannelled(_ v: ValueID) -> Bool {
            let t = g.type(of: v)
            return t.shape.count == 4 && !g.isConstant(v)
        }
        func add(_ v: ValueID) { if parent[v.index] == nil { parent[v.index] = v.index } }
        func unite(_ a: ValueID, _ b: ValueID) {
            add(a); add(b)
            let ra = find(a.index), rb = find(b.index)
            if ra != rb { parent[ra] = rb; if frozen.contains(ra) { frozen.insert(rb) } }
        }
        func freeze(_ v: ValueID) { add(v); frozen.insert(find(v.index)) }

        for v in g.inputs + g.outputs where isChannelled(v) { freeze(v) }
        for n in g.nodes {
            let acts = n.inputs.filter { !g.isConstant($0) && isChannelled($0) }
            let outs = n.outputs.filter { isChannelled($0) }
            for v in acts + outs { add(v) }
            switch n.op {
            case .conv2d(let c):
                if c.groups != 1 { for v in acts + outs { freeze(v) }; for v in acts { unite(v, outs[0]) } }
                else if c.epilogue.residual, let r = n.inputs.last { unite(r, outs[0]) }
            case .convTranspose2d(let c):
                if c.groups != 1 { for v in acts + outs { freeze(v) } }
                else if c.epilogue.residual, let r = n.inputs.last { unite(r, outs[0]) }
            case .channelAffine, .batchNorm, .relu, .sigmoid, .maxPool2d, .avgPool2d, .resize,
                 .quantizeDequantize, .maxUnpool2d, .globalAveragePool:
                for v in acts + outs { unite(acts[0], v) }
            case .prelu:
                for v in outs { unite(acts[0], v) }
                if let s = n.inputs.dropFirst().first, g.type(of: s).elementCount != 1 && g.type(of: s).elementCount != g.type(of: acts[0]).shape[1] {
                    freeze(acts[0])
                }
            case .add, .sub, .mul, .div:
                let shapes = (acts + outs).map { g.type(of: $0).shape }
                if Set(shapes).count != 1 || n.inputs.contains(where: { g.isConstant($0) && g.type(of: $0).elementCount != 1 }) {
                    for v in acts + outs { freeze(v) }
                }
                for v in acts + outs { unite(outs[0], v) }
            case .pad(let p):
                for v in outs { unite(acts[0], v) }
                if p.pads.count == 8 && (p.pads[1] != 0 || p.pads[5] != 0) { freeze(acts[0]) }
            case .softmax(let axis):
                for v in outs { unite(acts[0], v) }
                if axis == 1 || axis == -3 { freeze(acts[0]) }
            default:
                for v in acts + outs { freeze(v) }
            }
        }
        // Collect groups.
        var index: [Int: Int] = [:]
        for (v, _) in parent.sorted(by: { $0.key < $1.key }) {
            let r = find(v)
            if index[r] == nil {
                index[r] = groups.count
                groups.append(Group(channels: g.type(of: ValueID(v)).shape[1], prunable: !frozen.contains(r)))
            }
            groups[index[r]!].values.append(ValueID(v))
            groupOf[ValueID(v)] = index[r]!
        }
        for (i, n) in g.nodes.enumerated() {
            switch n.op {
            case .conv2d, .convTranspose2d:
                if let gi = groupOf[n.outputs[0]] { groups[gi].producers.append(i) }
                if let gi = groupOf[n.inputs[0]] { groups[gi].consumers.append(i) }
            case .channelAffine, .prelu:
                if let gi = groupOf[n.outputs[0]] { groups[gi].channelwise.append(i) }
            default: break
            }
        }
        // A group must start at convolutions only (no other producer of new channels).
        let producedByConv = Set(groups.indices.flatMap { gi in groups[gi].producers.map { g.nodes[$0].outputs[0] } })
        let producer = g.producers()
        for gi in groups.indices where groups[gi].prunable {
            if groups[gi].producers.isEmpty { groups[gi].prunable = false; continue }
            for v in groups[gi].values {
                if producedByConv.contains(v) { continue }
                // Any other value must be produced by a channel-preserving node from a group member.
                guard let pi = producer[v.index] else { groups[gi].prunable = false; break }
                let node = g.nodes[pi]
                if case .conv2d = node.op { continue }
                if case .convTranspose2d = node.op { continue }
                if !node.inputs.contains(where: { groupOf[$0] == gi }) { groups[gi].prunable = false; break }
            }
            if groups[gi].channels < 2 { groups[gi].prunable = false }
        }
    }
}
