import SegcCore

/// Output types of every op from its input types. Used when nodes are added,
/// by `verify()`, and mirrored by the plan reader's own re-inference.
package enum ShapeInference {
    package static func infer(_ op: Op, _ ins: [ValueType]) throws(SegcError) -> [ValueType] {
        func fail(_ m: String) -> SegcError { SegcError(.mismatch, "\(op.name): \(m)") }
        func need(_ n: Int) throws(SegcError) {
            if ins.count < n { throw fail("expects \(n) inputs, got \(ins.count)") }
        }
        func nchw(_ t: ValueType) throws(SegcError) -> (Int, Int, Int, Int) {
            if t.shape.count != 4 { throw fail("expects a rank-4 NCHW input, got \(t)") }
            return (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        }
        func channelVector(_ t: ValueType, _ c: Int, _ what: String) throws(SegcError) {
            if t.elementCount != c { throw fail("\(what) has \(t.elementCount) elements, expected \(c)") }
        }
        func epilogueInputs(_ e: Epilogue, base: Int, out: ValueType) throws(SegcError) {
            var i = base
            if e.activation == .prelu {
                try need(i + 1)
                let n = ins[i].elementCount
                if n != 1 && n != out.shape[1] { throw fail("PReLU slope has \(n) elements for \(out.shape[1]) channels") }
                i += 1
            }
            if e.residual {
                try need(i + 1)
                if ins[i].shape != out.shape { throw fail("residual \(ins[i]) does not match output \(out)") }
                i += 1
            }
            if ins.count != i { throw fail("expects \(i) inputs, got \(ins.count)") }
        }

        // Attributes may come from files (ONNX): bound them before any arithmetic so
        // the size formulas below cannot overflow.
        let attributeLimit = 1 << 24
        func bounded(_ values: [Int]) throws(SegcError) {
            for v in values where v < -attributeLimit || v > attributeLimit {
                throw SegcError(.limit, "\(op.name): attribute value \(v) outside ±\(attributeLimit)")
            }
        }
        for t in ins { for d in t.shape where d > Limits.maxDimension { throw fail("dimension \(d) above the limit") } }
        switch op {
        case .conv2d(let a):
            try bounded([a.kh, a.kw, a.strideH, a.strideW, a.padTop, a.padLeft, a.padBottom, a.padRight, a.dilationH, a.dilationW, a.groups])
        case .convTranspose2d(let a):
            try bounded([a.kh, a.kw, a.strideH, a.strideW, a.padTop, a.padLeft, a.padBottom, a.padRight, a.outputPaddingH,
                         a.outputPaddingW, a.dilationH, a.dilationW, a.groups])
        case .maxPool2d(let p), .avgPool2d(let p):
            try bounded([p.kh, p.kw, p.strideH, p.strideW, p.padTop, p.padLeft, p.padBottom, p.padRight, p.dilationH, p.dilationW])
        case .maxUnpool2d(let u): try bounded([u.outputH, u.outputW])
        case .resize(let r): try bounded([r.outputH, r.outputW])
        case .pad(let p): try bounded(p.pads)
        case .concat(let axis), .softmax(let axis): try bounded([axis])
        default: break
        }
        switch op {
        case .conv2d(let a):
            try need(2)
            let (n, c, h, w) = try nchw(ins[0])
            let wt = ins[1].shape
            if wt.count != 4 { throw fail("weight must be rank 4, got \(ins[1])") }
            if a.groups < 1 || c % a.groups != 0 || wt[0] % a.groups != 0 { throw fail("bad groups \(a.groups)") }
            if wt[1] * a.groups != c { throw fail("weight \(ins[1]) expects \(wt[1] * a.groups) input channels, got \(c)") }
            if wt[2] != a.kh || wt[3] != a.kw { throw fail("weight \(ins[1]) does not match kernel \(a.kh)x\(a.kw)") }
            if a.strideH < 1 || a.strideW < 1 || a.dilationH < 1 || a.dilationW < 1 { throw fail("stride and dilation must be ≥ 1") }
            if min(a.padTop, a.padLeft, a.padBottom, a.padRight) < 0 { throw fail("negative padding") }
            let oh = (h + a.padTop + a.padBottom - a.dilationH * (a.kh - 1) - 1) / a.strideH + 1
            let ow = (w + a.padLeft + a.padRight - a.dilationW * (a.kw - 1) - 1) / a.strideW + 1
            if oh < 1 || ow < 1 { throw fail("output would be empty (\(oh)x\(ow))") }
            let out = ValueType(.f32, [n, wt[0], oh, ow])
            var base = 2
            if a.hasBias { try need(3); try channelVector(ins[2], wt[0], "bias"); base = 3 }
            try epilogueInputs(a.epilogue, base: base, out: out)
            return [out]

        case .convTranspose2d(let a):
            try need(2)
            let (n, c, h, w) = try nchw(ins[0])
            let wt = ins[1].shape
            if wt.count != 4 { throw fail("weight must be rank 4, got \(ins[1])") }
            if a.groups < 1 || c % a.groups != 0 { throw fail("bad groups \(a.groups)") }
            if wt[0] != c { throw fail("weight \(ins[1]) expects \(wt[0]) input channels, got \(c)") }
            if wt[2] != a.kh || wt[3] != a.kw { throw fail("weight \(ins[1]) does not match kernel \(a.kh)x\(a.kw)") }
            if a.strideH < 1 || a.strideW < 1 || a.dilationH < 1 || a.dilationW < 1 { throw fail("stride and dilation must be ≥ 1") }
            if min(a.padTop, a.padLeft, a.padBottom, a.padRight) < 0 { throw fail("negative padding") }
            let cout = wt[1] * a.groups
            let oh = (h - 1) * a.strideH - a.padTop - a.padBottom + a.dilationH * (a.kh - 1) + a.outputPaddingH + 1
            let ow = (w - 1) * a.strideW - a.padLeft - a.padRight + a.dilationW * (a.kw - 1) + a.outputPaddingW + 1
            if oh < 1 || ow < 1 { throw fail("output would be empty (\(oh)x\(ow))") }
            let out = ValueType(.f32, [n, cout, oh, ow])
            var base = 2
            if a.hasBias { try need(3); try channelVector(ins[2], cout, "bias"); base = 3 }
            try epilogueInputs(a.epilogue, base: base, out: out)
            return [out]

        case .batchNorm:
            try need(5)
            let (_, c, _, _) = try nchw(ins[0])
            for i in 1..<5 { try channelVector(ins[i], c, "batch-norm parameter \(i)") }
            return [ins[0]]

        case .batchNormTraining(let b):
            try need(5)
            let (_, c, _, _) = try nchw(ins[0])
            for i in 1..<5 { try channelVector(ins[i], c, "batch-norm parameter \(i)") }
            if !(b.epsilon >= 0 && b.epsilon.isFinite && b.momentum.isFinite) { throw fail("epsilon/momentum") }
            return [ins[0], ValueType(.f32, [2, c])]

        case .channelAffine:
            try need(3)
            let (_, c, _, _) = try nchw(ins[0])
            try channelVector(ins[1], c, "scale"); try channelVector(ins[2], c, "bias")
            return [ins[0]]

        case .relu, .sigmoid:
            try need(1)
            return [ins[0]]

        case .prelu:
            try need(2)
            let c = ins[0].shape.count >= 2 ? ins[0].shape[1] : 1
            let n = ins[1].elementCount
            if n != 1 && n != c { throw fail("slope has \(n) elements for \(c) channels") }
            return [ins[0]]

        case .add, .sub, .mul, .div:
            try need(2)
            if ins.count != 2 { throw fail("expects 2 inputs") }
            return [ValueType(ins[0].dtype, try broadcast(ins[0].shape, ins[1].shape, fail))]

        case .concat(let axis):
            try need(1)
            let r = ins[0].shape.count
            if axis < 0 || axis >= r { throw fail("axis \(axis) out of range for rank \(r)") }
            var shape = ins[0].shape
            shape[axis] = 0
            for t in ins {
                if t.shape.count != r { throw fail("rank mismatch") }
                for d in 0..<r where d != axis && t.shape[d] != ins[0].shape[d] {
                    throw fail("shapes \(ins[0]) and \(t) differ outside axis \(axis)")
                }
                shape[axis] += t.shape[axis]
            }
            return [ValueType(ins[0].dtype, shape)]

        case .maxPool2d(let p), .avgPool2d(let p):
            try need(1)
            let (n, c, h, w) = try nchw(ins[0])
            if p.kh < 1 || p.kw < 1 || p.strideH < 1 || p.strideW < 1 || p.dilationH < 1 || p.dilationW < 1 {
                throw fail("kernel, stride and dilation must be ≥ 1")
            }
            if min(p.padTop, p.padLeft, p.padBottom, p.padRight) < 0 { throw fail("negative padding") }
            let oh = poolOut(h, p.kh, p.strideH, p.padTop + p.padBottom, p.padTop, p.dilationH, p.ceilMode)
            let ow = poolOut(w, p.kw, p.strideW, p.padLeft + p.padRight, p.padLeft, p.dilationW, p.ceilMode)
            if oh < 1 || ow < 1 { throw fail("output would be empty") }
            let y = ValueType(.f32, [n, c, oh, ow])
            if case .maxPool2d = op, p.returnsIndices { return [y, ValueType(.i64, y.shape)] }
            return [y]

        case .maxUnpool2d(let u):
            try need(2)
            let (n, c, _, _) = try nchw(ins[0])
            if ins[1].shape != ins[0].shape { throw fail("indices \(ins[1]) do not match values \(ins[0])") }
            if ins[1].dtype != .i64 { throw fail("indices must be i64") }
            if u.outputH < 1 || u.outputW < 1 { throw fail("empty output") }
            return [ValueType(.f32, [n, c, u.outputH, u.outputW])]

        case .globalAveragePool:
            try need(1)
            let (n, c, _, _) = try nchw(ins[0])
            return [ValueType(.f32, [n, c, 1, 1])]

        case .resize(let r):
            try need(1)
            let (n, c, _, _) = try nchw(ins[0])
            if r.outputH < 1 || r.outputW < 1 { throw fail("empty output") }
            if let g = r.general {
                if !(g.scaleH > 0 && g.scaleH.isFinite && g.scaleW > 0 && g.scaleW.isFinite) { throw fail("resize scales \(g.scaleH), \(g.scaleW)") }
                if g.roi.count != 4 || !g.roi.allSatisfy(\.isFinite) || !g.cubicA.isFinite || !g.extrapolation.isFinite {
                    throw fail("resize parameters are not finite")
                }
            } else if r.mode == .cubic || r.coordinates == .halfPixelSymmetric || r.coordinates == .tfCropAndResize {
                throw fail("resize \(r.mode.rawValue) \(r.coordinates.rawValue) needs its general parameters")
            }
            return [ValueType(.f32, [n, c, r.outputH, r.outputW])]

        case .pad(let p):
            try need(1)
            let r = ins[0].shape.count
            if p.pads.count != 2 * r { throw fail("pads has \(p.pads.count) entries for rank \(r)") }
            var shape = ins[0].shape
            for d in 0..<r {
                shape[d] += p.pads[d] + p.pads[d + r]
                if shape[d] < 1 { throw fail("negative output size") }
            }
            return [ValueType(ins[0].dtype, shape)]

        case .softmax(let axis):
            try need(1)
            if axis < 0 || axis >= ins[0].shape.count { throw fail("axis out of range") }
            return [ins[0]]

        case .reshape(let shape):
            try need(1)
            if ins[0].dtype != .f32 { throw fail("expects a float32 input, got \(ins[0])") }
            try bounded(shape)
            if shape.isEmpty || shape.count > 8 || shape.contains(where: { $0 < 1 }) { throw fail("reshape to \(shape)") }
            if try Checked.elementCount(shape, "reshape") != (try Checked.elementCount(ins[0].shape, "reshape input")) {
                throw fail("reshape of \(ins[0].shape) to \(shape) changes the element count")
            }
            return [ValueType(.f32, shape)]

        case .quantizeDequantize(let q):
            try need(1)
            if ins.count != 1 { throw fail("expects 1 input") }
            if ins[0].dtype != .f32 { throw fail("expects a float32 input, got \(ins[0])") }
            if !(q.scale.isFinite && q.scale > 0) { throw fail("scale \(q.scale) must be finite and positive") }
            if q.qmin >= q.qmax || q.qmin < -32768 || q.qmax > 65535 {
                throw fail("bad quantized range \(q.qmin)...\(q.qmax)")
            }
            if q.zeroPoint < q.qmin || q.zeroPoint > q.qmax {
                throw fail("zero point \(q.zeroPoint) outside \(q.qmin)...\(q.qmax)")
            }
            return [ins[0]]
        }
    }

    /// Pooling output size, PyTorch rules: in ceil mode the last window must
    /// start inside the input or the left padding.
    package static func poolOut(_ n: Int, _ k: Int, _ s: Int, _ padTotal: Int, _ padBegin: Int, _ d: Int, _ ceil: Bool) -> Int {
        let span = n + padTotal - d * (k - 1) - 1
        if span < 0 { return 0 }
        var o = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (o - 1) * s >= n + padBegin { o -= 1 }
        return o
    }

    /// Numpy-style broadcasting.
    package static func broadcast(_ a: [Int], _ b: [Int], _ fail: (String) -> SegcError) throws(SegcError) -> [Int] {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let x = i < r - a.count ? 1 : a[i - (r - a.count)]
            let y = i < r - b.count ? 1 : b[i - (r - b.count)]
            if x != y && x != 1 && y != 1 { throw fail("shapes \(a) and \(b) do not broadcast") }
            out[i] = x == 1 ? y : x
        }
        return out
    }
}
