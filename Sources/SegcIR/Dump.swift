extension Graph {
    /// Stable, deterministic text form of the graph (used in tests and by
    /// `inspect --ir`). One line per graph input, constant (name and type, no
    /// data), node and graph output:
    ///
    /// ```
    /// input %0 "input" : f32[1,3,512,1024]
    /// const %1 "encoder.initial_block.conv.weight" : f32[13,3,3,3]
    /// %12 = conv2d[k=3x1 s=1x1 p=1,0,1,0 d=1x1 g=1 bias relu+res](%3, %4, %5) "encoder.layers.1.conv3x1_1" : f32[1,64,128,256]
    /// %20, %21 = max_pool2d[k=2x2 s=2x2 p=0,0,0,0 d=1x1 indices](%19) "pool" : f32[…], i64[…]
    /// output %40 "output"
    /// ```
    ///
    /// Padding is printed `top,left,bottom,right`. Constants are listed in id order.
    /// Out-of-range ids (a graph that does not verify) are printed, never trapped on.
    package func dump() -> String {
        var lines: [String] = []
        func name(_ v: ValueID) -> String {
            v.index >= 0 && v.index < values.count ? values[v.index].name : "?"
        }
        func type(_ v: ValueID) -> String {
            v.index >= 0 && v.index < values.count ? values[v.index].type.description : "?"
        }
        for v in inputs {
            lines.append("input \(v) \(quoted(name(v))) : \(type(v))")
        }
        for v in constants.keys.sorted() {
            var line = "const \(v) \(quoted(name(v))) : \(type(v))"
            if let q = constants[v]?.quant {
                line += q.axis.map { " quant(axis=\($0), \(q.scales.count) scales)" }
                    ?? " quant(scale=\(q.scales.first.map { "\($0)" } ?? "?") zp=\(q.zeroPoints.first.map { "\($0)" } ?? "?"))"
            }
            lines.append(line)
        }
        for node in nodes {
            let outs = node.outputs.map(\.description).joined(separator: ", ")
            let ins = node.inputs.map(\.description).joined(separator: ", ")
            let attrs = node.op.dumpAttributes
            let types = node.outputs.map(type).joined(separator: ", ")
            lines.append("\(outs) = \(node.op.name)\(attrs.isEmpty ? "" : "[\(attrs)]")(\(ins)) \(quoted(node.name)) : \(types)")
        }
        for v in outputs {
            lines.append("output \(v) \(quoted(name(v)))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Double-quoted with `"` and `\` and control characters escaped, so a name cannot break a line.
private func quoted(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if ch.value < 0x20 || ch.value == 0x7F {
                out += "\\u{\(String(ch.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(ch)
            }
        }
    }
    return out + "\""
}

extension Op {
    /// Attributes in the dump's bracket, empty for attribute-free ops.
    package var dumpAttributes: String {
        func epi(_ hasBias: Bool, _ e: Epilogue) -> [String] {
            var parts: [String] = []
            if hasBias { parts.append("bias") }
            switch (e.activation, e.residual) {
            case (.none, false): break
            case (.none, true): parts.append("res")
            case (let a, false): parts.append(a.rawValue)
            case (let a, true): parts.append("\(a.rawValue)+res")
            }
            return parts
        }
        switch self {
        case .conv2d(let a):
            return (["k=\(a.kh)x\(a.kw)", "s=\(a.strideH)x\(a.strideW)",
                     "p=\(a.padTop),\(a.padLeft),\(a.padBottom),\(a.padRight)",
                     "d=\(a.dilationH)x\(a.dilationW)", "g=\(a.groups)"] + epi(a.hasBias, a.epilogue))
                .joined(separator: " ")
        case .convTranspose2d(let a):
            return (["k=\(a.kh)x\(a.kw)", "s=\(a.strideH)x\(a.strideW)",
                     "p=\(a.padTop),\(a.padLeft),\(a.padBottom),\(a.padRight)",
                     "op=\(a.outputPaddingH)x\(a.outputPaddingW)",
                     "d=\(a.dilationH)x\(a.dilationW)", "g=\(a.groups)"] + epi(a.hasBias, a.epilogue))
                .joined(separator: " ")
        case .batchNormTraining(let b):
            return "eps=\(b.epsilon) momentum=\(b.momentum)"
        case .batchNorm(let b):
            return "eps=\(b.epsilon)"
        case .channelAffine, .relu, .prelu, .sigmoid, .add, .sub, .mul, .div, .globalAveragePool:
            return ""
        case .concat(let axis):
            return "axis=\(axis)"
        case .maxPool2d(let p), .avgPool2d(let p):
            var parts = ["k=\(p.kh)x\(p.kw)", "s=\(p.strideH)x\(p.strideW)",
                         "p=\(p.padTop),\(p.padLeft),\(p.padBottom),\(p.padRight)",
                         "d=\(p.dilationH)x\(p.dilationW)"]
            if p.ceilMode { parts.append("ceil") }
            if case .maxPool2d = self, p.returnsIndices { parts.append("indices") }
            if case .avgPool2d = self, p.countIncludePad { parts.append("count_include_pad") }
            return parts.joined(separator: " ")
        case .maxUnpool2d(let u):
            return "out=\(u.outputH)x\(u.outputW)"
        case .resize(let r):
            var parts = [r.mode.rawValue, r.coordinates.rawValue]
            if r.mode == .nearest { parts.append(r.nearest.rawValue) }
            parts.append("out=\(r.outputH)x\(r.outputW)")
            if let g = r.general {
                parts.append("scales=\(g.scaleH),\(g.scaleW)")
                if r.mode == .cubic { parts.append("a=\(g.cubicA)") }
                if g.excludeOutside { parts.append("exclude_outside") }
                if g.antialias { parts.append("antialias") }
                if r.coordinates == .tfCropAndResize {
                    parts.append("roi=\(g.roi.map { "\($0)" }.joined(separator: ",")) extrapolation=\(g.extrapolation)")
                }
            }
            return parts.joined(separator: " ")
        case .pad(let p):
            return "pads=\(p.pads.map(String.init).joined(separator: ",")) value=\(p.value)"
        case .softmax(let axis):
            return "axis=\(axis)"
        case .quantizeDequantize(let q):
            return "scale=\(q.scale) zp=\(q.zeroPoint) q=\(q.qmin)...\(q.qmax)"
        case .reshape(let shape):
            return "shape=\(shape.map(String.init).joined(separator: ","))"
        }
    }
}
