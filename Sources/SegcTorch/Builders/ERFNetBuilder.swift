import SegcCore
import SegcIR

/// ERFNet exactly as networks.md §1 (BN eps 1e-3, all convs biased). Also
/// builds the float view of the FX-int8 state dict, whose non_bottleneck_1d
/// BNs are already folded into `conv1x3_1`/`conv1x3_2` (no `bn1`/`bn2` keys).
package enum ERFNetBuilder {
    static let eps: Float = 1e-3
    package static let unusedPrefixes = ["encoder.output_conv."]

    package static func matches(_ sd: StateDict) -> Bool {
        sd.shape("encoder.initial_block.conv.weight") == [13, 3, 3, 3]
            && sd.shape("encoder.layers.1.conv3x1_1.weight") == [64, 64, 3, 1]
            && (sd.shape("decoder.output_conv.weight").map { $0.count == 4 && $0[0] == 16 && $0[2] == 2 && $0[3] == 2 } ?? false)
    }

    package static func classes(_ sd: StateDict) -> Int? {
        guard let s = sd.shape("decoder.output_conv.weight"), s.count == 4 else { return nil }
        return s[1]
    }

    package static func build(_ sd: StateDict, height: Int, width: Int) throws(SegcError) -> Graph {
        if height % 8 != 0 || width % 8 != 0 {
            throw SegcError(.usage, "ERFNet needs an input size that is a multiple of 8, got \(height)x\(width)")
        }
        let classes = Self.classes(sd) ?? 20
        let folded = !sd.has("encoder.layers.1.bn1.weight") && sd.has("encoder.layers.1.conv1x3_1.scale")
        if folded { touchQuantParams(sd) }
        var b = NetBuilder(sd)
        var x = b.graph.addInput("input", ValueType(.f32, [1, 3, height, width]))

        x = try downsampler(&b, x, "encoder.initial_block", cout: 16)
        x = try downsampler(&b, x, "encoder.layers.0", cout: 64)
        for i in 1...5 { x = try nonBottleneck(&b, x, "encoder.layers.\(i)", dilation: 1, folded: folded) }
        x = try downsampler(&b, x, "encoder.layers.6", cout: 128)
        for (i, d) in zip(7...14, [2, 4, 8, 16, 2, 4, 8, 16]) {
            x = try nonBottleneck(&b, x, "encoder.layers.\(i)", dilation: d, folded: folded)
        }
        x = try upsampler(&b, x, "decoder.layers.0", cout: 64)
        for i in 1...2 { x = try nonBottleneck(&b, x, "decoder.layers.\(i)", dilation: 1, folded: folded) }
        x = try upsampler(&b, x, "decoder.layers.3", cout: 16)
        for i in 4...5 { x = try nonBottleneck(&b, x, "decoder.layers.\(i)", dilation: 1, folded: folded) }
        x = try b.convTranspose(x, "decoder.output_conv", cout: classes, kernel: 2, stride: 2, padding: 0, outputPadding: 0, bias: true)
        return b.finish(x)
    }

    /// conv 3x3/2 (Cin → Cout−Cin) ‖ maxpool 2/2, then BN + ReLU; conv channels first.
    static func downsampler(_ b: inout NetBuilder, _ x: ValueID, _ p: String, cout: Int) throws(SegcError) -> ValueID {
        let cin = b.channels(x)
        let a = try b.conv(x, "\(p).conv", cout: cout - cin, kernel: (3, 3), stride: (2, 2), padding: (1, 1), bias: true)
        let pooled = try b.maxPool(x, "\(p).pool", kernel: 2, stride: 2)
        var y = try b.concat([a, pooled], "\(p).cat")
        y = try b.batchNorm(y, "\(p).bn", eps: eps)
        return try b.relu(y, "\(p).relu")
    }

    static func nonBottleneck(_ b: inout NetBuilder, _ x: ValueID, _ p: String, dilation d: Int, folded: Bool) throws(SegcError) -> ValueID {
        let c = b.channels(x)
        var t = try b.conv(x, "\(p).conv3x1_1", cout: c, kernel: (3, 1), padding: (1, 0), bias: true)
        t = try b.relu(t, "\(p).conv3x1_1.relu")
        t = try b.conv(t, "\(p).conv1x3_1", cout: c, kernel: (1, 3), padding: (0, 1), bias: true)
        if !folded { t = try b.batchNorm(t, "\(p).bn1", eps: eps) }
        t = try b.relu(t, "\(p).bn1.relu")
        t = try b.conv(t, "\(p).conv3x1_2", cout: c, kernel: (3, 1), padding: (d, 0), dilation: (d, 1), bias: true)
        t = try b.relu(t, "\(p).conv3x1_2.relu")
        t = try b.conv(t, "\(p).conv1x3_2", cout: c, kernel: (1, 3), padding: (0, d), dilation: (1, d), bias: true)
        if !folded { t = try b.batchNorm(t, "\(p).bn2", eps: eps) }
        let y = try b.add(t, x, "\(p).add")
        return try b.relu(y, "\(p).relu")
    }

    static func upsampler(_ b: inout NetBuilder, _ x: ValueID, _ p: String, cout: Int) throws(SegcError) -> ValueID {
        var y = try b.convTranspose(x, "\(p).conv", cout: cout, kernel: 3, stride: 2, padding: 1, outputPadding: 1, bias: true)
        y = try b.batchNorm(y, "\(p).bn", eps: eps)
        return try b.relu(y, "\(p).relu")
    }

    /// FX writes activation qparams (`<module>.scale`, `<module>.zero_point`,
    /// `<name>_scale_0`, `<name>_zero_point_0`); an fp32 plan does not use them.
    static func touchQuantParams(_ sd: StateDict) {
        for k in sd.order where k.hasSuffix(".scale") || k.hasSuffix(".zero_point")
            || k.contains("_scale_") || k.contains("_zero_point_") {
            sd.touch(k)
        }
    }
}
