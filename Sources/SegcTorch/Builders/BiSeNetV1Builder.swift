import SegcCore
import SegcIR

/// BiSeNetV1 (CoinCheung layout, ResNet-18 context path) exactly as
/// networks.md §4. Only the main head is built; the auxiliary heads
/// (`conv_out16`, `conv_out32`) are training-only and reported as unused.
package enum BiSeNetV1Builder {
    static let eps: Float = 1e-5
    package static let unusedPrefixes = ["conv_out16.", "conv_out32."]

    package static func matches(_ sd: StateDict) -> Bool {
        sd.shape("cp.resnet.conv1.weight") == [64, 3, 7, 7] && sd.shape("sp.conv1.conv.weight") == [64, 3, 7, 7]
            && sd.shape("ffm.convblk.conv.weight") == [256, 256, 1, 1]
            && (sd.shape("conv_out.conv_out.weight").map { $0.count == 4 && $0[1] == 256 } ?? false)
    }

    package static func classes(_ sd: StateDict) -> Int? {
        guard let s = sd.shape("conv_out.conv_out.weight"), s.count == 4 else { return nil }
        return s[0]
    }

    package static func build(_ sd: StateDict, height: Int, width: Int) throws(SegcError) -> Graph {
        if height % 32 != 0 || width % 32 != 0 {
            throw SegcError(.usage, "BiSeNetV1 needs an input size that is a multiple of 32, got \(height)x\(width)")
        }
        let classes = Self.classes(sd) ?? 19
        var b = NetBuilder(sd)
        let input = b.graph.addInput("input", ValueType(.f32, [1, 3, height, width]))

        // ResNet-18 trunk.
        var x = try b.conv(input, "cp.resnet.conv1", cout: 64, kernel: (7, 7), stride: (2, 2), padding: (3, 3), bias: false)
        x = try b.batchNorm(x, "cp.resnet.bn1", eps: eps)
        x = try b.relu(x, "cp.resnet.relu")
        x = try b.maxPool(x, "cp.resnet.maxpool", kernel: 3, stride: 2, padding: 1)
        x = try basicBlock(&b, x, "cp.resnet.layer1.0", cout: 64, stride: 1)
        x = try basicBlock(&b, x, "cp.resnet.layer1.1", cout: 64, stride: 1)
        x = try basicBlock(&b, x, "cp.resnet.layer2.0", cout: 128, stride: 2)
        let feat8 = try basicBlock(&b, x, "cp.resnet.layer2.1", cout: 128, stride: 1)
        x = try basicBlock(&b, feat8, "cp.resnet.layer3.0", cout: 256, stride: 2)
        let feat16 = try basicBlock(&b, x, "cp.resnet.layer3.1", cout: 256, stride: 1)
        x = try basicBlock(&b, feat16, "cp.resnet.layer4.0", cout: 512, stride: 2)
        let feat32 = try basicBlock(&b, x, "cp.resnet.layer4.1", cout: 512, stride: 1)
        _ = feat8

        // Context path.
        let avg = try b.meanHW(feat32, "cp.avg")
        let g = try b.convBNReLU(avg, "cp.conv_avg", cout: 128, kernel: 1, stride: 1, padding: 0, eps: eps)
        var s32 = try arm(&b, feat32, "cp.arm32")
        s32 = try b.add(s32, g, "cp.add32")
        let up32 = try b.upsampleNearest(s32, "cp.up32", factor: 2)
        let cp16 = try b.convBNReLU(up32, "cp.conv_head32", cout: 128, kernel: 3, stride: 1, padding: 1, eps: eps)
        var s16 = try arm(&b, feat16, "cp.arm16")
        s16 = try b.add(s16, cp16, "cp.add16")
        let up16 = try b.upsampleNearest(s16, "cp.up16", factor: 2)
        let cp8 = try b.convBNReLU(up16, "cp.conv_head16", cout: 128, kernel: 3, stride: 1, padding: 1, eps: eps)

        // Spatial path.
        var sp = try b.convBNReLU(input, "sp.conv1", cout: 64, kernel: 7, stride: 2, padding: 3, eps: eps)
        sp = try b.convBNReLU(sp, "sp.conv2", cout: 64, kernel: 3, stride: 2, padding: 1, eps: eps)
        sp = try b.convBNReLU(sp, "sp.conv3", cout: 64, kernel: 3, stride: 2, padding: 1, eps: eps)
        sp = try b.convBNReLU(sp, "sp.conv_out", cout: 128, kernel: 1, stride: 1, padding: 0, eps: eps)

        // Feature fusion: spatial-path channels first.
        let cat = try b.concat([sp, cp8], "ffm.cat")
        let f = try b.convBNReLU(cat, "ffm.convblk", cout: 256, kernel: 1, stride: 1, padding: 0, eps: eps)
        var a = try b.meanHW(f, "ffm.avg")
        a = try b.conv(a, "ffm.conv", cout: 256, kernel: (1, 1), bias: false)
        a = try b.batchNorm(a, "ffm.bn", eps: eps)
        a = try b.sigmoid(a, "ffm.sigmoid")
        let fa = try b.mul(f, a, "ffm.mul")
        let fused = try b.add(fa, f, "ffm.add")

        // Main head.
        var y = try b.convBNReLU(fused, "conv_out.conv", cout: 256, kernel: 3, stride: 1, padding: 1, eps: eps)
        y = try b.conv(y, "conv_out.conv_out", cout: classes, kernel: (1, 1), bias: true)
        y = try b.upsampleBilinear(y, "conv_out.upsample", factor: 8)
        return b.finish(y)
    }

    static func basicBlock(_ b: inout NetBuilder, _ x: ValueID, _ p: String, cout: Int, stride: Int) throws(SegcError) -> ValueID {
        let cin = b.channels(x)
        // Shortcut first, so the residual add can be fused into conv2's epilogue.
        var sc = x
        if cin != cout || stride != 1 {
            sc = try b.conv(x, "\(p).downsample.0", cout: cout, kernel: (1, 1), stride: (stride, stride), bias: false)
            sc = try b.batchNorm(sc, "\(p).downsample.1", eps: eps)
        }
        var r = try b.conv(x, "\(p).conv1", cout: cout, kernel: (3, 3), stride: (stride, stride), padding: (1, 1), bias: false)
        r = try b.batchNorm(r, "\(p).bn1", eps: eps)
        r = try b.relu(r, "\(p).relu1")
        r = try b.conv(r, "\(p).conv2", cout: cout, kernel: (3, 3), padding: (1, 1), bias: false)
        r = try b.batchNorm(r, "\(p).bn2", eps: eps)
        let y = try b.add(sc, r, "\(p).add")
        return try b.relu(y, "\(p).relu")
    }

    /// Attention refinement: f = CBR3x3(x); y = f · sigmoid(BN(conv1x1(mean_hw(f)))).
    static func arm(_ b: inout NetBuilder, _ x: ValueID, _ p: String) throws(SegcError) -> ValueID {
        let f = try b.convBNReLU(x, "\(p).conv", cout: 128, kernel: 3, stride: 1, padding: 1, eps: eps)
        var a = try b.meanHW(f, "\(p).avg")
        a = try b.conv(a, "\(p).conv_atten", cout: 128, kernel: (1, 1), bias: false)
        a = try b.batchNorm(a, "\(p).bn_atten", eps: eps)
        a = try b.sigmoid(a, "\(p).sigmoid")
        return try b.mul(f, a, "\(p).mul")
    }
}
