import SegcCore

/// Dtype and shape of a value or weight.
package struct PlanTensorType: Sendable, Hashable, CustomStringConvertible {
    package var dtype: PlanDType
    package var shape: [Int]
    package init(_ dtype: PlanDType, _ shape: [Int]) { self.dtype = dtype; self.shape = shape }
    package var description: String { "\(dtype.jsonName)\(shape)" }
}

extension PlanDType {
    /// Name used in `META` (`input.dtype`, `output.dtype`).
    package var jsonName: String {
        switch self {
        case .f32: return "float32"
        case .i64: return "int64"
        case .i8: return "int8"
        case .u8: return "uint8"
        case .i32: return "int32"
        }
    }
}

/// Re-infers output types of plan ops from their input types, attributes and
/// weight shapes (Docs/PlanFormat.md §6), checking attribute counts and ranges.
/// Every value may come from a hostile file: all arithmetic is checked.
/// Errors are `.mismatch`/`.malformed` naming the op kind; the verifier adds the op
/// index and section.
package enum PlanShapeInference {
    private static let maxAttr = Int64(Int32.max)

    package static func infer(_ op: PlanOp, inputs ins: [PlanTensorType]) throws(SegcError) -> [PlanTensorType] {
        let name = op.kind.name
        func fail(_ m: String, _ kind: SegcError.Kind = .mismatch) -> SegcError { SegcError(kind, "\(name): \(m)") }
        func counts(inputs: ClosedRange<Int>, weights: ClosedRange<Int>, outputs: ClosedRange<Int>) throws(SegcError) {
            if !inputs.contains(ins.count) { throw fail("has \(ins.count) inputs, expected \(inputs)", .malformed) }
            if !weights.contains(op.weights.count) { throw fail("has \(op.weights.count) weights, expected \(weights)", .malformed) }
            if !outputs.contains(op.outputs.count) { throw fail("has \(op.outputs.count) outputs, expected \(outputs)", .malformed) }
        }
        let rank0 = ins.first?.shape.count ?? 0
        var ni = PlanOpSchema.intCount(op.kind, inputRank: rank0)
        var nf = PlanOpSchema.floatCount(op.kind)
        if op.kind == .resize && op.ints.count == PlanOpSchema.Resize.generalCount {
            (ni, nf) = (PlanOpSchema.Resize.generalCount, PlanOpSchema.Resize.generalFloatCount)
        }
        if op.kind == .reshape {
            if !(1...8).contains(op.ints.count) { throw fail("reshape to rank \(op.ints.count)", .malformed) }
            ni = op.ints.count
        }
        if op.ints.count != ni { throw fail("has \(op.ints.count) int attributes, expected \(ni)", .malformed) }
        if op.floats.count != nf { throw fail("has \(op.floats.count) float attributes, expected \(nf)", .malformed) }
        for (i, v) in op.ints.enumerated() where v > maxAttr || v < -maxAttr {
            throw fail("int attribute \(i) = \(v) out of range", .malformed)
        }
        for f in op.floats where f.isNaN { throw fail("float attribute is NaN", .malformed) }
        func int(_ i: Int, _ what: String, _ range: ClosedRange<Int64>) throws(SegcError) -> Int {
            let v = op.ints[i]
            if !range.contains(v) { throw fail("\(what) = \(v) out of range \(range)", .malformed) }
            return Int(v)
        }
        func flag(_ i: Int, _ what: String) throws(SegcError) -> Bool { try int(i, what, 0...1) == 1 }
        let positive: ClosedRange<Int64> = 1...maxAttr
        let nonNegative: ClosedRange<Int64> = 0...maxAttr
        func nchw(_ t: PlanTensorType, _ what: String = "input") throws(SegcError) -> (Int, Int, Int, Int) {
            if t.shape.count != 4 { throw fail("\(what) must be rank 4 (NCHW), got \(t)") }
            return (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        }
        func f32(_ t: PlanTensorType, _ what: String) throws(SegcError) {
            if t.dtype != .f32 { throw fail("\(what) must be float32, got \(t)") }
        }
        func weight(_ i: Int) -> PlanTensorType { PlanTensorType(op.weights[i].dtype, op.weights[i].shape) }
        func elements(_ t: PlanTensorType, _ what: String) throws(SegcError) -> Int {
            do throws(SegcError) { return try Checked.elementCount(t.shape, what) } catch { throw fail(error.message, error.kind) }
        }
        func dim(_ v: Int, _ what: String) throws(SegcError) -> Int {
            if v < 1 { throw fail("\(what) would be empty (\(v))") }
            if v > Limits.maxDimension { throw fail("\(what) \(v) exceeds the limit of \(Limits.maxDimension)", .limit) }
            return v
        }
        func add(_ a: Int, _ b: Int) throws(SegcError) -> Int {
            let (r, o) = a.addingReportingOverflow(b)
            if o { throw fail("size overflows", .malformed) }
            return r
        }
        func sub(_ a: Int, _ b: Int) throws(SegcError) -> Int {
            let (r, o) = a.subtractingReportingOverflow(b)
            if o { throw fail("size overflows", .malformed) }
            return r
        }
        func mul(_ a: Int, _ b: Int) throws(SegcError) -> Int {
            let (r, o) = a.multipliedReportingOverflow(by: b)
            if o { throw fail("size overflows", .malformed) }
            return r
        }

        switch op.kind {
        case .conv2d, .convTranspose2d, .qconv2d, .qconvTranspose2d:
            let isT = op.kind == .convTranspose2d || op.kind == .qconvTranspose2d
            // Real int8 (qconv*): uint8 x and residual, int8 weight, int32 bias (required),
            // float32 per-channel multiplier, then the float conv's optional slope.
            let quantized = op.kind == .qconv2d || op.kind == .qconvTranspose2d
            let qBase = isT ? PlanOpSchema.ConvTranspose.count : PlanOpSchema.Conv.count
            var outF32 = true
            if quantized {
                typealias Q = PlanOpSchema.QConv
                for (k, what) in [(Q.xZeroPoint, "x zero point"), (Q.yZeroPoint, "y zero point"),
                                  (Q.residualZeroPoint, "residual zero point")] {
                    _ = try int(qBase + k, what, 0...255)
                }
                outF32 = try flag(qBase + Q.outputF32, "outputF32")
                let m = op.floats[Q.residualMultiplier]
                if !(m.isFinite && m >= 0) { throw fail("residual multiplier \(m) must be finite and >= 0", .malformed) }
            }
            typealias C = PlanOpSchema.Conv
            typealias T = PlanOpSchema.ConvTranspose
            let kh = try int(isT ? T.kh : C.kh, "kh", positive), kw = try int(isT ? T.kw : C.kw, "kw", positive)
            let sh = try int(isT ? T.strideH : C.strideH, "stride h", positive)
            let sw = try int(isT ? T.strideW : C.strideW, "stride w", positive)
            let pt = try int(isT ? T.padTop : C.padTop, "pad top", nonNegative)
            let pl = try int(isT ? T.padLeft : C.padLeft, "pad left", nonNegative)
            let pb = try int(isT ? T.padBottom : C.padBottom, "pad bottom", nonNegative)
            let pr = try int(isT ? T.padRight : C.padRight, "pad right", nonNegative)
            let dh = try int(isT ? T.dilationH : C.dilationH, "dilation h", positive)
            let dw = try int(isT ? T.dilationW : C.dilationW, "dilation w", positive)
            let g = try int(isT ? T.groups : C.groups, "groups", positive)
            let hasBias = try flag(isT ? T.hasBias : C.hasBias, "hasBias")
            let act = try int(isT ? T.activation : C.activation, "activation", 0...2)
            let residual = try flag(isT ? T.residual : C.residual, "residual")
            if quantized && !hasBias { throw fail("a quantized conv always has its int32 bias", .malformed) }
            let nw = 1 + (hasBias ? 1 : 0) + (quantized ? 1 : 0) + (act == 2 ? 1 : 0)
            let nin = 1 + (residual ? 1 : 0)
            try counts(inputs: nin...nin, weights: nw...nw, outputs: 1...1)
            let x = ins[0]
            let xType: PlanDType = quantized ? .u8 : .f32
            if x.dtype != xType { throw fail("input must be \(xType.jsonName), got \(x)") }
            let (n, c, h, w) = try nchw(x)
            let wt = weight(0)
            if wt.dtype != (quantized ? .i8 : .f32) { throw fail("weight must be \(quantized ? "int8" : "float32"), got \(wt)") }
            if wt.shape.count != 4 { throw fail("weight must be rank 4, got \(wt)") }
            if wt.shape[2] != kh || wt.shape[3] != kw { throw fail("weight \(wt) does not match kernel \(kh)x\(kw)") }
            if c % g != 0 { throw fail("groups \(g) do not divide \(c) input channels") }
            let cout: Int, oh: Int, ow: Int
            if !isT {
                if wt.shape[0] % g != 0 { throw fail("groups \(g) do not divide \(wt.shape[0]) output channels") }
                if try mul(wt.shape[1], g) != c { throw fail("weight \(wt) with \(g) groups does not take \(c) input channels") }
                cout = wt.shape[0]
                let spanH = try sub(try sub(try add(h, try add(pt, pb)), try mul(dh, kh - 1)), 1)
                let spanW = try sub(try sub(try add(w, try add(pl, pr)), try mul(dw, kw - 1)), 1)
                if spanH < 0 || spanW < 0 { throw fail("kernel larger than the padded input") }
                oh = try dim(spanH / sh + 1, "output height")
                ow = try dim(spanW / sw + 1, "output width")
            } else {
                let oph = try int(T.outputPaddingH, "output padding h", nonNegative)
                let opw = try int(T.outputPaddingW, "output padding w", nonNegative)
                if oph >= max(sh, dh) || opw >= max(sw, dw) { throw fail("output padding must be smaller than stride or dilation", .malformed) }
                if wt.shape[0] != c { throw fail("weight \(wt) takes \(wt.shape[0]) input channels, got \(c)") }
                cout = try mul(wt.shape[1], g)
                let baseH = try add(try mul(h - 1, sh), try add(try mul(dh, kh - 1), oph + 1))
                let baseW = try add(try mul(w - 1, sw), try add(try mul(dw, kw - 1), opw + 1))
                oh = try dim(try sub(baseH, try add(pt, pb)), "output height")
                ow = try dim(try sub(baseW, try add(pl, pr)), "output width")
            }
            _ = try dim(cout, "output channels")
            let y = PlanTensorType(outF32 ? .f32 : .u8, [n, cout, oh, ow])
            _ = try elements(y, "output")
            var wi = 1
            if hasBias {
                let b = weight(wi); wi += 1
                if b.dtype != (quantized ? .i32 : .f32) { throw fail("bias must be \(quantized ? "int32" : "float32"), got \(b)") }
                if try elements(b, "bias") != cout { throw fail("bias \(b) does not have \(cout) elements") }
            }
            if quantized {
                let m = weight(wi); wi += 1
                try f32(m, "multiplier")
                if try elements(m, "multiplier") != cout { throw fail("multiplier \(m) does not have \(cout) elements") }
            }
            if act == 2 {
                let s = weight(wi)
                try f32(s, "slope")
                let k = try elements(s, "slope")
                if k != 1 && k != cout { throw fail("slope \(s) has neither 1 nor \(cout) elements") }
            }
            if residual && ins[1] != (quantized ? PlanTensorType(.u8, y.shape) : y) {
                throw fail("residual \(ins[1]) does not match the output \(y)")
            }
            return [y]

        case .maxPool2d, .avgPool2d:
            typealias P = PlanOpSchema.Pool
            let kh = try int(P.kh, "kh", positive), kw = try int(P.kw, "kw", positive)
            let sh = try int(P.strideH, "stride h", positive), sw = try int(P.strideW, "stride w", positive)
            let pt = try int(P.padTop, "pad top", nonNegative), pl = try int(P.padLeft, "pad left", nonNegative)
            let pb = try int(P.padBottom, "pad bottom", nonNegative), pr = try int(P.padRight, "pad right", nonNegative)
            let dh = try int(P.dilationH, "dilation h", positive), dw = try int(P.dilationW, "dilation w", positive)
            let ceil = try flag(P.ceil, "ceil")
            let extra = try flag(P.flag, op.kind == .maxPool2d ? "returnsIndices" : "countIncludePad")
            let nout = op.kind == .maxPool2d && extra ? 2 : 1
            try counts(inputs: 1...1, weights: 0...0, outputs: nout...nout)
            // Max pooling is exact on uint8 (same scale in and out); average pooling is not.
            if !(op.kind == .maxPool2d && ins[0].dtype == .u8) { try f32(ins[0], "input") }
            let (n, c, h, w) = try nchw(ins[0])
            func out(_ x: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int, _ d: Int, _ what: String) throws(SegcError) -> Int {
                let span = try sub(try sub(try add(x, try add(p0, p1)), try mul(d, k - 1)), 1)
                if span < 0 { throw fail("window larger than the padded input") }
                var o = (ceil ? (span + s - 1) / s : span / s) + 1
                // PyTorch: in ceil mode the last window must start inside the input or the left padding.
                if ceil, try mul(o - 1, s) >= (try add(x, p0)) { o -= 1 }
                return try dim(o, what)
            }
            let oh = try out(h, kh, sh, pt, pb, dh, "output height")
            let ow = try out(w, kw, sw, pl, pr, dw, "output width")
            let y = PlanTensorType(ins[0].dtype, [n, c, oh, ow])
            return nout == 2 ? [y, PlanTensorType(.i64, y.shape)] : [y]

        case .maxUnpool2d:
            try counts(inputs: 2...2, weights: 0...0, outputs: 1...1)
            let oh = try int(PlanOpSchema.Unpool.outH, "output height", positive)
            let ow = try int(PlanOpSchema.Unpool.outW, "output width", positive)
            try f32(ins[0], "input")
            let (n, c, _, _) = try nchw(ins[0])
            if ins[1].dtype != .i64 || ins[1].shape != ins[0].shape {
                throw fail("indices \(ins[1]) must be int64 with the input's shape \(ins[0].shape)")
            }
            let y = PlanTensorType(.f32, [n, c, oh, ow])
            _ = try elements(y, "output")
            return [y]

        case .globalAveragePool:
            try counts(inputs: 1...1, weights: 0...0, outputs: 1...1)
            try f32(ins[0], "input")
            let (n, c, _, _) = try nchw(ins[0])
            return [PlanTensorType(.f32, [n, c, 1, 1])]

        case .resize:
            typealias R = PlanOpSchema.Resize
            try counts(inputs: 1...1, weights: 0...0, outputs: 1...1)
            let general = op.ints.count == R.generalCount
            let mode = try int(R.mode, "mode", general ? 0...2 : 0...1)
            let coord = try int(R.coordinates, "coordinates", general ? 0...5 : 0...3)
            _ = try int(R.nearest, "nearest rounding", 0...3)
            if general {
                _ = try int(R.excludeOutside, "exclude_outside", 0...1)
                _ = try int(R.antialias, "antialias", 0...1)
                for f in op.floats where !f.isFinite { throw fail("resize parameter \(f) is not finite") }
                if !(op.floats[R.scaleH] > 0 && op.floats[R.scaleW] > 0) { throw fail("resize scales must be positive") }
            } else if mode == 2 || coord > 3 {
                throw fail("cubic, half_pixel_symmetric and tf_crop_and_resize need the general resize form")
            }
            let oh = try int(R.outH, "output height", positive), ow = try int(R.outW, "output width", positive)
            try f32(ins[0], "input")
            let (n, c, _, _) = try nchw(ins[0])
            let y = PlanTensorType(.f32, [n, c, oh, ow])
            _ = try elements(y, "output")
            return [y]

        case .add, .sub, .mul, .div:
            try counts(inputs: 1...2, weights: 0...1, outputs: 1...1)
            if ins.count + op.weights.count != 2 { throw fail("needs two operands (inputs plus weights)", .malformed) }
            let a = ins[0]
            let b = ins.count == 2 ? ins[1] : weight(0)
            try f32(a, "a"); try f32(b, "b")
            let r = max(a.shape.count, b.shape.count)
            var shape = [Int](repeating: 1, count: r)
            for i in 0..<r {
                let x = i < r - a.shape.count ? 1 : a.shape[i - (r - a.shape.count)]
                let y = i < r - b.shape.count ? 1 : b.shape[i - (r - b.shape.count)]
                if x != y && x != 1 && y != 1 { throw fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
                shape[i] = x == 1 ? y : x
            }
            return [PlanTensorType(.f32, shape)]

        case .relu, .sigmoid:
            try counts(inputs: 1...1, weights: 0...0, outputs: 1...1)
            try f32(ins[0], "input")
            return [ins[0]]

        case .prelu:
            try counts(inputs: 1...1, weights: 1...1, outputs: 1...1)
            try f32(ins[0], "input")
            let s = weight(0)
            try f32(s, "slope")
            let c = ins[0].shape.count >= 2 ? ins[0].shape[1] : 1
            let k = try elements(s, "slope")
            if k != 1 && k != c { throw fail("slope \(s) has neither 1 nor \(c) elements") }
            return [ins[0]]

        case .concat:
            try counts(inputs: 1...Int(UInt16.max), weights: 0...0, outputs: 1...1)
            let r = ins[0].shape.count
            let axis = try int(0, "axis", 0...Int64(max(r - 1, 0)))
            if r == 0 { throw fail("cannot concatenate scalars") }
            var shape = ins[0].shape
            shape[axis] = 0
            for t in ins {
                if t.dtype != ins[0].dtype { throw fail("dtypes of \(ins[0]) and \(t) differ") }
                if t.shape.count != r { throw fail("ranks of \(ins[0]) and \(t) differ") }
                for d in 0..<r where d != axis && t.shape[d] != ins[0].shape[d] {
                    throw fail("shapes \(ins[0].shape) and \(t.shape) differ outside axis \(axis)")
                }
                shape[axis] = try add(shape[axis], t.shape[axis])
            }
            _ = try dim(shape[axis], "concatenated size")
            return [PlanTensorType(ins[0].dtype, shape)]

        case .channelAffine:
            try counts(inputs: 1...1, weights: 2...2, outputs: 1...1)
            try f32(ins[0], "input")
            let (_, c, _, _) = try nchw(ins[0])
            for (i, what) in ["scale", "bias"].enumerated() {
                let t = weight(i)
                try f32(t, what)
                if try elements(t, what) != c { throw fail("\(what) \(t) does not have \(c) elements") }
            }
            return [ins[0]]

        case .pad:
            try counts(inputs: 1...1, weights: 0...0, outputs: 1...1)
            let x = ins[0]
            var shape = x.shape
            for d in 0..<x.shape.count {
                shape[d] = try add(try add(shape[d], Int(op.ints[d])), Int(op.ints[d + x.shape.count]))
                _ = try dim(shape[d], "output dimension \(d)")
            }
            let y = PlanTensorType(x.dtype, shape)
            _ = try elements(y, "output")
            return [y]

        case .softmax:
            try counts(inputs: 1...1, weights: 0...0, outputs: 1...1)
            try f32(ins[0], "input")
            _ = try int(0, "axis", 0...Int64(max(ins[0].shape.count - 1, 0)))
            if ins[0].shape.isEmpty { throw fail("softmax of a scalar") }
            return [ins[0]]

        case .quantizeDequantize:
            typealias Q = PlanOpSchema.QuantizeDequantize
            try counts(inputs: 1...1, weights: 0...0, outputs: 1...1)
            try f32(ins[0], "input")
            let qmin = try int(Q.qmin, "qmin", -32768...65535)
            let qmax = try int(Q.qmax, "qmax", -32768...65535)
            if qmin >= qmax { throw fail("qmin \(qmin) is not below qmax \(qmax)", .malformed) }
            _ = try int(Q.zeroPoint, "zero point", Int64(qmin)...Int64(qmax))
            let scale = op.floats[Q.scale]
            if !(scale.isFinite && scale > 0) { throw fail("scale \(scale) must be finite and positive", .malformed) }
            return [ins[0]]

        case .quantize, .dequantize:
            try counts(inputs: 1...1, weights: 0...0, outputs: 1...1)
            let toU8 = op.kind == .quantize
            if ins[0].dtype != (toU8 ? .f32 : .u8) { throw fail("input must be \(toU8 ? "float32" : "uint8"), got \(ins[0])") }
            _ = try int(PlanOpSchema.Quantize.zeroPoint, "zero point", 0...255)
            let scale = op.floats[PlanOpSchema.Quantize.scale]
            if !(scale.isFinite && scale > 0) { throw fail("scale \(scale) must be finite and positive", .malformed) }
            return [PlanTensorType(toU8 ? .u8 : .f32, ins[0].shape)]

        case .qchannelAffine:
            typealias A = PlanOpSchema.QAffine
            try counts(inputs: 1...1, weights: 2...2, outputs: 1...1)
            if ins[0].dtype != .u8 { throw fail("input must be uint8, got \(ins[0])") }
            let (_, c, _, _) = try nchw(ins[0])
            _ = try int(A.xZeroPoint, "x zero point", 0...255)
            _ = try int(A.yZeroPoint, "y zero point", 0...255)
            _ = try flag(A.relu, "relu")
            for (i, what) in ["multiplier", "addend"].enumerated() {
                let t = weight(i)
                try f32(t, what)
                if try elements(t, what) != c { throw fail("\(what) \(t) does not have \(c) elements") }
            }
            return [ins[0]]

        case .batchNormTraining:
            try counts(inputs: 1...1, weights: 1...1, outputs: 2...2)
            try f32(ins[0], "input")
            let (_, c, _, _) = try nchw(ins[0])
            if weight(0).shape != [4, c] { throw fail("parameters \(weight(0)) must be [4, \(c)]") }
            if !(op.floats[0] >= 0) || !op.floats[1].isFinite { throw fail("epsilon/momentum", .malformed) }
            return [ins[0], PlanTensorType(.f32, [2, c])]

        case .reshape:
            try counts(inputs: 1...1, weights: 0...0, outputs: 1...1)
            try f32(ins[0], "input")
            var shape: [Int] = []
            for i in op.ints.indices { shape.append(try int(i, "dimension \(i)", positive)) }
            let y = PlanTensorType(.f32, shape)
            if try elements(y, "output") != (try elements(ins[0], "input")) {
                throw fail("reshape of \(ins[0].shape) to \(shape) changes the element count")
            }
            return [y]
        }
    }
}
