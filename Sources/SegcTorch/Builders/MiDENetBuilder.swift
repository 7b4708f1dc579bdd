import SegcCore
import SegcIR

/// MiDE-Net exactly as networks.md §3: a small ENet-like student with ReLU only,
/// a ×8 bilinear upsample (align_corners=False) and a biased 1x1 classifier.
package enum MiDENetBuilder {
    static let eps: Float = 1e-5
    package static let unusedPrefixes: [String] = []

    package static func matches(_ sd: StateDict) -> Bool {
        sd.shape("initial.conv.weight") == [13, 3, 3, 3] && !sd.has("initial.conv.bias")
            && sd.shape("bottleneck1.0.match_channels.weight") == [64, 16, 1, 1]
            && (sd.shape("classifier.weight").map { $0.count == 4 && $0[1] == 128 } ?? false)
    }

    package static func classes(_ sd: StateDict) -> Int? {
        guard let s = sd.shape("classifier.weight"), s.count == 4 else { return nil }
        return s[0]
    }

    package static func build(_ sd: StateDict, height: Int, width: Int) throws(SegcError) -> Graph {
        if height % 8 != 0 || width % 8 != 0 {
            throw SegcError(.usage, "MiDE-Net needs an input size that is a multiple of 8, got \(height)x\(width)")
        }
        let classes = Self.classes(sd) ?? 20
        var b = NetBuilder(sd)
        var x = b.graph.addInput("input", ValueType(.f32, [1, 3, height, width]))
        // Initial: conv channels FIRST (13), then the 3 pooled channels.
        let conv = try b.conv(x, "initial.conv", cout: 13, kernel: (3, 3), stride: (2, 2), padding: (1, 1), bias: false)
        let pooled = try b.maxPool(x, "initial.pool", kernel: 2, stride: 2)
        x = try b.concat([conv, pooled], "initial.cat")
        x = try b.batchNorm(x, "initial.bn", eps: eps)
        x = try b.relu(x, "initial.relu")

        let blocks: [(String, Int, Bool, Int)] = [
            ("bottleneck1.0", 64, true, 1), ("bottleneck1.1", 64, false, 1), ("bottleneck1.2", 64, false, 1),
            ("bottleneck2.0", 128, true, 1), ("bottleneck2.1", 128, false, 2), ("bottleneck2.2", 128, false, 4),
        ]
        for (p, cout, down, d) in blocks { x = try bottleneck(&b, x, p, cout: cout, down: down, dilation: d) }
        x = try b.upsampleBilinear(x, "upsample", factor: 8)
        x = try b.conv(x, "classifier", cout: classes, kernel: (1, 1), bias: true)
        return b.finish(x)
    }

    static func bottleneck(_ b: inout NetBuilder, _ x: ValueID, _ p: String, cout: Int, down: Bool,
                           dilation d: Int) throws(SegcError) -> ValueID {
        let cin = b.channels(x)
        let m = cin / 4
        let st = down ? 2 : 1
        // The shortcut is built first so that the optimiser can fuse the residual
        // add into conv3's epilogue (its operand must already exist). Same maths.
        var s = x
        if cin != cout || down {
            s = try b.conv(x, "\(p).match_channels", cout: cout, kernel: (1, 1), stride: (st, st), bias: false)
        }
        var t = try b.conv(x, "\(p).conv1", cout: m, kernel: (1, 1), bias: false)
        t = try b.batchNorm(t, "\(p).bn1", eps: eps)
        t = try b.relu(t, "\(p).relu1")
        t = try b.conv(t, "\(p).conv2", cout: m, kernel: (3, 3), stride: (st, st), padding: (d, d), dilation: (d, d), bias: false)
        t = try b.batchNorm(t, "\(p).bn2", eps: eps)
        t = try b.relu(t, "\(p).relu2")
        t = try b.conv(t, "\(p).conv3", cout: cout, kernel: (1, 1), bias: false)
        t = try b.batchNorm(t, "\(p).bn3", eps: eps)
        let y = try b.add(t, s, "\(p).add")
        return try b.relu(y, "\(p).relu")
    }
}
