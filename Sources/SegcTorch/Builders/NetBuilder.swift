import SegcCore
import SegcIR

/// Shared layer helpers for the architecture builders: each call reads the
/// weights of one PyTorch module from the state dict (checking shapes) and
/// appends the matching IR node, named after the module's key prefix.
package struct NetBuilder {
    package var graph = Graph()
    package let sd: StateDict

    package init(_ sd: StateDict) { self.sd = sd }

    package func channels(_ v: ValueID) -> Int { graph.type(of: v).shape[1] }
    package func spatial(_ v: ValueID) -> (Int, Int) { let s = graph.type(of: v).shape; return (s[2], s[3]) }

    private mutating func constant(_ key: String, _ t: Tensor) -> ValueID {
        graph.addConstant(key, t)
    }

    /// `nn.Conv2d` at `prefix` (`prefix.weight` [cout, cin/groups, kh, kw], optional `prefix.bias`).
    package mutating func conv(_ x: ValueID, _ prefix: String, cout: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                               padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), bias: Bool) throws(SegcError) -> ValueID {
        let cin = channels(x)
        let w = try sd.floats("\(prefix).weight", [cout, cin, kernel.0, kernel.1])
        var ins = [x, constant("\(prefix).weight", w)]
        if bias { ins.append(constant("\(prefix).bias", try sd.floats("\(prefix).bias", [cout]))) }
        let op = Op.conv2d(Conv2d(kh: kernel.0, kw: kernel.1, stride: stride, padding: padding, dilation: dilation, hasBias: bias))
        return try graph.add1(op, ins, name: prefix)
    }

    /// `nn.ConvTranspose2d` at `prefix` (weight [cin, cout, kh, kw]).
    package mutating func convTranspose(_ x: ValueID, _ prefix: String, cout: Int, kernel: Int, stride: Int, padding: Int,
                                        outputPadding: Int, bias: Bool) throws(SegcError) -> ValueID {
        let cin = channels(x)
        let w = try sd.floats("\(prefix).weight", [cin, cout, kernel, kernel])
        var ins = [x, constant("\(prefix).weight", w)]
        if bias { ins.append(constant("\(prefix).bias", try sd.floats("\(prefix).bias", [cout]))) }
        let op = Op.convTranspose2d(ConvTranspose2d(kh: kernel, kw: kernel, stride: (stride, stride), padding: (padding, padding),
                                                    outputPadding: (outputPadding, outputPadding), hasBias: bias))
        return try graph.add1(op, ins, name: prefix)
    }

    /// `nn.BatchNorm2d` at `prefix` with the architecture's epsilon (not stored in state dicts).
    package mutating func batchNorm(_ x: ValueID, _ prefix: String, eps: Float) throws(SegcError) -> ValueID {
        let c = channels(x)
        var ins = [x]
        for field in ["weight", "bias", "running_mean", "running_var"] {
            ins.append(constant("\(prefix).\(field)", try sd.floats("\(prefix).\(field)", [c])))
        }
        sd.touch("\(prefix).num_batches_tracked")
        return try graph.add1(.batchNorm(BatchNorm(epsilon: eps)), ins, name: prefix)
    }

    package mutating func relu(_ x: ValueID, _ name: String) throws(SegcError) -> ValueID {
        try graph.add1(.relu, [x], name: name)
    }

    /// `nn.PReLU` at `prefix`: one slope (`[1]`) or one per channel.
    package mutating func prelu(_ x: ValueID, _ prefix: String, perChannel: Bool) throws(SegcError) -> ValueID {
        let n = perChannel ? channels(x) : 1
        let slope = try sd.floats("\(prefix).weight", [n])
        return try graph.add1(.prelu, [x, constant("\(prefix).weight", slope)], name: prefix)
    }

    package mutating func sigmoid(_ x: ValueID, _ name: String) throws(SegcError) -> ValueID {
        try graph.add1(.sigmoid, [x], name: name)
    }

    package mutating func add(_ a: ValueID, _ b: ValueID, _ name: String) throws(SegcError) -> ValueID {
        try graph.add1(.add, [a, b], name: name)
    }

    package mutating func mul(_ a: ValueID, _ b: ValueID, _ name: String) throws(SegcError) -> ValueID {
        try graph.add1(.mul, [a, b], name: name)
    }

    package mutating func concat(_ xs: [ValueID], _ name: String) throws(SegcError) -> ValueID {
        try graph.add1(.concat(axis: 1), xs, name: name)
    }

    package mutating func maxPool(_ x: ValueID, _ name: String, kernel: Int, stride: Int, padding: Int = 0,
                                  ceil: Bool = false) throws(SegcError) -> ValueID {
        try graph.add1(.maxPool2d(Pool2d(kernel: kernel, stride: stride, padding: padding, ceilMode: ceil)), [x], name: name)
    }

    /// Max pooling that also returns the argmax indices (for a later unpool).
    package mutating func maxPoolWithIndices(_ x: ValueID, _ name: String, kernel: Int, stride: Int) throws(SegcError) -> (ValueID, ValueID) {
        let outs = try graph.add(.maxPool2d(Pool2d(kernel: kernel, stride: stride, returnsIndices: true)), [x], name: name)
        return (outs[0], outs[1])
    }

    package mutating func meanHW(_ x: ValueID, _ name: String) throws(SegcError) -> ValueID {
        try graph.add1(.globalAveragePool, [x], name: name)
    }

    /// Bilinear resize with `align_corners=False` (PyTorch's half-pixel mapping).
    package mutating func upsampleBilinear(_ x: ValueID, _ name: String, factor: Int) throws(SegcError) -> ValueID {
        let (h, w) = spatial(x)
        return try graph.add1(.resize(Resize(mode: .linear, coordinates: .pytorchHalfPixel, outputH: h * factor, outputW: w * factor)),
                              [x], name: name)
    }

    /// Nearest resize (`nn.Upsample(scale_factor=k)`: src = floor(dst / k)).
    package mutating func upsampleNearest(_ x: ValueID, _ name: String, factor: Int) throws(SegcError) -> ValueID {
        let (h, w) = spatial(x)
        return try graph.add1(.resize(Resize(mode: .nearest, coordinates: .asymmetric, nearest: .floor,
                                             outputH: h * factor, outputW: w * factor)), [x], name: name)
    }

    /// Zero channels appended after `x` (ENet's padded identity).
    package mutating func padChannels(_ x: ValueID, _ name: String, to cout: Int) throws(SegcError) -> ValueID {
        let extra = cout - channels(x)
        if extra == 0 { return x }
        return try graph.add1(.pad(Pad(pads: [0, 0, 0, 0, 0, extra, 0, 0])), [x], name: name)
    }

    /// Conv → BN → ReLU (BiSeNet's `ConvBNReLU`, keys `<p>.conv.weight`, `<p>.bn.*`).
    package mutating func convBNReLU(_ x: ValueID, _ prefix: String, cout: Int, kernel: Int, stride: Int, padding: Int,
                                     eps: Float) throws(SegcError) -> ValueID {
        var t = try conv(x, "\(prefix).conv", cout: cout, kernel: (kernel, kernel), stride: (stride, stride),
                         padding: (padding, padding), bias: false)
        t = try batchNorm(t, "\(prefix).bn", eps: eps)
        return try relu(t, "\(prefix).relu")
    }

    /// Finishes: marks `y` as the graph output.
    package mutating func finish(_ y: ValueID) -> Graph {
        graph.outputs = [y]
        return graph
    }
}
