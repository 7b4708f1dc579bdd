import Foundation
import SegcIR
import SegcPlan

/// MACs / FLOPs and op histograms for `inspect` (product.md §3.1): MACs count
/// conv and transposed-conv multiply-accumulates; FLOPs = 2·MACs + one per
/// output element of every other op.
enum GraphStats {
    static func convMACs(cout: Int, outH: Int, outW: Int, cinPerGroup: Int, kh: Int, kw: Int) -> Int {
        cout * outH * outW * cinPerGroup * kh * kw
    }

    /// Multiply-accumulates of one node (0 for everything but conv / transposed conv).
    static func macs(of n: Node, in g: Graph) -> Int {
        let out = g.type(of: n.outputs[0])
        switch n.op {
        case .conv2d(let a):
            let cin = g.type(of: n.inputs[0]).shape[1]
            return convMACs(cout: out.shape[1], outH: out.shape[2], outW: out.shape[3], cinPerGroup: cin / a.groups, kh: a.kh, kw: a.kw)
        case .convTranspose2d(let a):
            let x = g.type(of: n.inputs[0]).shape
            return x[1] * x[2] * x[3] * (out.shape[1] / a.groups) * a.kh * a.kw
        default:
            return 0
        }
    }

    static func macsAndFlops(_ g: Graph) -> (macs: Int, flops: Int) {
        var macs = 0, other = 0
        for n in g.nodes {
            switch n.op {
            case .conv2d, .convTranspose2d: macs += Self.macs(of: n, in: g)
            default: other += g.type(of: n.outputs[0]).elementCount
            }
        }
        return (macs, 2 * macs + other)
    }

    static func macsAndFlops(_ p: PlanGraph) -> (macs: Int, flops: Int) {
        var macs = 0, other = 0
        for op in p.ops {
            let out = p.values[op.outputs[0]]
            let x = p.values[op.inputs[0]].shape
            switch op.kind {
            case .conv2d, .qconv2d:
                let w = op.weights[0].shape
                macs += out.shape[1] * out.shape[2] * out.shape[3] * w[1] * w[2] * w[3]
            case .convTranspose2d, .qconvTranspose2d:
                let w = op.weights[0].shape
                macs += x[1] * x[2] * x[3] * w[1] * w[2] * w[3]
            default:
                other += out.elementCount
            }
        }
        return (macs, 2 * macs + other)
    }

    static func histogram(_ names: [String]) -> [(String, Int)] {
        var counts: [String: Int] = [:]
        var order: [String] = []
        for n in names {
            if counts[n] == nil { order.append(n) }
            counts[n, default: 0] += 1
        }
        return order.map { ($0, counts[$0]!) }
    }
}

/// product.md §2.6 counting rule for `parameter_count`.
enum ParameterCount {
    static func isExcluded(_ key: String) -> Bool {
        let last = key.split(separator: ".").last.map(String.init) ?? key
        if ["running_mean", "running_var", "num_batches_tracked", "scale", "zero_point"].contains(last) { return true }
        // FX graph-level qparams: `<name>_scale_<n>` / `<name>_zero_point_<n>`.
        for marker in ["_scale_", "_zero_point_"] {
            if let r = key.range(of: marker, options: .backwards) {
                let rest = key[r.upperBound...]
                if !rest.isEmpty && rest.allSatisfy(\.isNumber) { return true }
            }
        }
        return false
    }
}
