import SegcCore
import SegcIR

/// ENet, AML-repo variant, exactly as networks.md §2: PReLU (one shared slope)
/// in stages 1–3, ReLU in 4–5, zero-channel-padded shortcut, MaxUnpool decoder
/// using the indices of the matching downsampling bottleneck.
package enum ENetBuilder {
    static let eps: Float = 1e-5
    package static let unusedPrefixes: [String] = []

    package static func matches(_ sd: StateDict) -> Bool {
        sd.shape("initial.conv.weight") == [13, 3, 3, 3] && sd.shape("initial.conv.bias") == [13]
            && sd.shape("initial.prelu.weight") == [16] && sd.shape("bottleneck10.conv1.weight") == [4, 16, 2, 2]
            && (sd.shape("fullconv.weight").map { $0.count == 4 && $0[0] == 16 && $0[2] == 3 } ?? false)
    }

    package static func classes(_ sd: StateDict) -> Int? {
        guard let s = sd.shape("fullconv.weight"), s.count == 4 else { return nil }
        return s[1]
    }

    enum Kind { case regular, dilated(Int), asym, down, up(String) }

    package static func build(_ sd: StateDict, height: Int, width: Int) throws(SegcError) -> Graph {
        if height % 8 != 0 || width % 8 != 0 {
            throw SegcError(.usage, "ENet needs an input size that is a multiple of 8, got \(height)x\(width)")
        }
        let classes = Self.classes(sd) ?? 20
        var b = NetBuilder(sd)
        var x = b.graph.addInput("input", ValueType(.f32, [1, 3, height, width]))
        var indices: [String: ValueID] = [:]

        // Initial block: pooled channels FIRST, then the 13 conv channels.
        let pooled = try b.maxPool(x, "initial.pool", kernel: 2, stride: 2, ceil: true)
        let conv = try b.conv(x, "initial.conv", cout: 13, kernel: (3, 3), stride: (2, 2), padding: (1, 1), bias: true)
        x = try b.concat([pooled, conv], "initial.cat")
        x = try b.batchNorm(x, "initial.bn", eps: eps)
        x = try b.prelu(x, "initial.prelu", perChannel: true)

        let stages: [(String, Kind, Int)] = [
            ("bottleneck10", .down, 64),
            ("bottleneck11", .regular, 64), ("bottleneck12", .regular, 64),
            ("bottleneck13", .regular, 64), ("bottleneck14", .regular, 64),
            ("bottleneck20", .down, 128),
            ("bottleneck21", .regular, 128), ("bottleneck22", .dilated(2), 128), ("bottleneck23", .asym, 128),
            ("bottleneck24", .dilated(4), 128), ("bottleneck25", .regular, 128), ("bottleneck26", .dilated(8), 128),
            ("bottleneck27", .asym, 128), ("bottleneck28", .dilated(16), 128),
            ("bottleneck31", .regular, 128), ("bottleneck32", .dilated(2), 128), ("bottleneck33", .asym, 128),
            ("bottleneck34", .dilated(4), 128), ("bottleneck35", .regular, 128), ("bottleneck36", .dilated(8), 128),
            ("bottleneck37", .asym, 128), ("bottleneck38", .dilated(16), 128),
            ("bottleneck40", .up("bottleneck20"), 64),
            ("bottleneck41", .regular, 64), ("bottleneck42", .regular, 64),
            ("bottleneck50", .up("bottleneck10"), 16),
            ("bottleneck51", .regular, 16),
        ]
        for (name, kind, cout) in stages {
            let prelu = name < "bottleneck40"
            x = try bottleneck(&b, x, name, kind: kind, cout: cout, prelu: prelu, indices: &indices)
        }
        x = try b.convTranspose(x, "fullconv", cout: classes, kernel: 3, stride: 2, padding: 1, outputPadding: 1, bias: false)
        return b.finish(x)
    }

    static func act(_ b: inout NetBuilder, _ x: ValueID, _ key: String, prelu: Bool) throws(SegcError) -> ValueID {
        prelu ? try b.prelu(x, key, perChannel: false) : try b.relu(x, key)
    }

    static func bottleneck(_ b: inout NetBuilder, _ x: ValueID, _ p: String, kind: Kind, cout: Int, prelu: Bool,
                           indices: inout [String: ValueID]) throws(SegcError) -> ValueID {
        let cin = b.channels(x)
        let m = cin / 4
        // Shortcut branch.
        var s = x
        switch kind {
        case .down:
            let (pooled, idx) = try b.maxPoolWithIndices(x, "\(p).pool", kernel: 2, stride: 2)
            indices[p] = idx
            s = try b.padChannels(pooled, "\(p).pad", to: cout)
        case .up(let source):
            guard let idx = indices[source] else {
                throw SegcError(.mismatch, "no pooling indices from \(source)", at: .layer(p))
            }
            s = try b.conv(x, "\(p).spatil_conv", cout: cout, kernel: (1, 1), bias: false)
            s = try b.batchNorm(s, "\(p).bn_up", eps: eps)
            let (h, w) = b.spatial(s)
            s = try b.graph.add1(.maxUnpool2d(MaxUnpool2d(outputH: 2 * h, outputW: 2 * w)), [s, idx], name: "\(p).unpool")
        default: break
        }
        // Residual branch.
        var t: ValueID
        if case .down = kind {
            t = try b.conv(x, "\(p).conv1", cout: m, kernel: (2, 2), stride: (2, 2), bias: false)
        } else {
            t = try b.conv(x, "\(p).conv1", cout: m, kernel: (1, 1), bias: false)
        }
        t = try b.batchNorm(t, "\(p).bn1", eps: eps)
        t = try act(&b, t, "\(p).prelu1", prelu: prelu)
        switch kind {
        case .regular, .down:
            t = try b.conv(t, "\(p).conv2", cout: m, kernel: (3, 3), padding: (1, 1), bias: false)
        case .dilated(let d):
            t = try b.conv(t, "\(p).conv2", cout: m, kernel: (3, 3), padding: (d, d), dilation: (d, d), bias: false)
        case .asym:
            t = try b.conv(t, "\(p).conv2.0", cout: m, kernel: (1, 5), padding: (0, 2), bias: true)
            t = try b.batchNorm(t, "\(p).conv2.1", eps: eps)
            t = try b.prelu(t, "\(p).conv2.2", perChannel: false)
            t = try b.conv(t, "\(p).conv2.3", cout: m, kernel: (5, 1), padding: (2, 0), bias: true)
        case .up:
            t = try b.convTranspose(t, "\(p).conv2", cout: m, kernel: 3, stride: 2, padding: 1, outputPadding: 1, bias: false)
        }
        t = try b.batchNorm(t, "\(p).bn2", eps: eps)
        t = try act(&b, t, "\(p).prelu2", prelu: prelu)
        t = try b.conv(t, "\(p).conv3", cout: cout, kernel: (1, 1), bias: false)
        t = try b.batchNorm(t, "\(p).bn3", eps: eps)
        t = try act(&b, t, "\(p).prelu3", prelu: prelu)
        let y = try b.add(t, s, "\(p).add")
        return try act(&b, y, "\(p).prelu_out", prelu: prelu)
    }
}
