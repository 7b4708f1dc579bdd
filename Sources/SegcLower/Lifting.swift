import SegcCore
import SegcIR
import SegcPlan

/// Plan → IR: the inverse of `Lowering`, so that commands which transform a network
/// (`quantize`, `prune`) can take a `.segc` plan as well as a model (architecture.md §1).
///
/// Plans store canonical float32 weights and every attribute of every op, so the lift is
/// exact: `Lowering.lower(Lifting.lift(plan), metadata: plan.metadata)` gives the same plan
/// bytes (`LiftingTests`). Weights shared by several ops (one `WeightRef` offset) become one
/// constant. Fused epilogues stay fused (the IR has them too); an unfolded BatchNorm was
/// already lowered to its exact channel affine and lifts as one.
package enum Lifting {
    package static func lift(_ plan: PlanFile) throws(SegcError) -> Graph {
        if !plan.metadata.extraOutputs.isEmpty {
            throw SegcError(.unsupported, "lifting a plan with several outputs is not supported yet")
        }
        var g = Graph()
        let pg = plan.graph
        var valueOf: [Int: ValueID] = [:]
        var constantAt: [Int: ValueID] = [:]

        func planType(_ v: PlanValue) -> ValueType { ValueType(v.dtype == .i64 ? .i64 : .f32, v.shape) }
        valueOf[pg.input] = g.addInput("input", planType(pg.values[pg.input]))

        func constant(_ ref: WeightRef) throws(SegcError) -> ValueID {
            if let id = constantAt[ref.offset] { return id }
            let n = try Checked.elementCount(ref.shape, "weight")
            let bytes = try Checked.mul(n, ref.dtype.byteSize)
            guard ref.offset >= 0, ref.offset + bytes <= plan.weights.count else {
                throw SegcError(.malformed, "weight at \(ref.offset) lies outside the WGHT section")
            }
            let tensor: Tensor = plan.weights.withBytes { raw in
                let p = raw.baseAddress! + ref.offset
                if ref.dtype == .i64 {
                    let v = (0..<n).map { Int64(littleEndian: p.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
                    return Tensor(dtype: .i64, shape: ref.shape, storage: .i64(v))
                }
                let v = (0..<n).map { Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                return Tensor(v, shape: ref.shape)
            }
            let id = g.addConstant("w@\(ref.offset)", tensor)
            constantAt[ref.offset] = id
            return id
        }
        func activation(_ v: Int) throws(SegcError) -> ValueID {
            guard let id = valueOf[v] else { throw SegcError(.malformed, "value \(v) is read before it is written") }
            return id
        }

        for (i, op) in pg.ops.enumerated() {
            let name = plan.sourceName(i) ?? "op\(i)"
            if op.kind.isRealInt8 {
                // The IR is float32: real int8 ops (segc quantize) have no IR form.
                throw SegcError(.unsupported, "\(op.kind.name): an int8 plan cannot be lifted back to the float IR", at: .layer(name))
            }
            let acts = try op.inputs.map { (v: Int) throws(SegcError) -> ValueID in try activation(v) }
            let consts = try op.weights.map { (r: WeightRef) throws(SegcError) -> ValueID in try constant(r) }
            let a = op.ints.map { Int($0) }
            func need(_ n: Int) throws(SegcError) {
                if a.count < n { throw SegcError(.malformed, "\(op.kind.name) has \(a.count) attributes, expected \(n)", at: .layer(name)) }
            }
            let irOp: Op
            var inputs = [acts[0]] + consts
            switch op.kind {
            case .conv2d:
                try need(14)
                var c = Conv2d(kh: a[0], kw: a[1], stride: (a[2], a[3]), dilation: (a[8], a[9]), groups: a[10], hasBias: a[11] != 0)
                c.padTop = a[4]; c.padLeft = a[5]; c.padBottom = a[6]; c.padRight = a[7]
                c.epilogue = Epilogue(activation: try activationOf(a[12]), residual: a[13] != 0)
                irOp = .conv2d(c)
                inputs += acts.dropFirst()
            case .convTranspose2d:
                try need(16)
                var c = ConvTranspose2d(kh: a[0], kw: a[1], stride: (a[2], a[3]), padding: (0, 0), outputPadding: (a[8], a[9]),
                                        dilation: (a[10], a[11]), groups: a[12], hasBias: a[13] != 0)
                c.padTop = a[4]; c.padLeft = a[5]; c.padBottom = a[6]; c.padRight = a[7]
                c.epilogue = Epilogue(activation: try activationOf(a[14]), residual: a[15] != 0)
                irOp = .convTranspose2d(c)
                inputs += acts.dropFirst()
            case .maxPool2d, .avgPool2d:
                try need(12)
                var p = Pool2d(kernel: 1, stride: 1, ceilMode: a[10] != 0)
                p.kh = a[0]; p.kw = a[1]; p.strideH = a[2]; p.strideW = a[3]
                p.padTop = a[4]; p.padLeft = a[5]; p.padBottom = a[6]; p.padRight = a[7]
                p.dilationH = a[8]; p.dilationW = a[9]
                if op.kind == .maxPool2d { p.returnsIndices = a[11] != 0; irOp = .maxPool2d(p) }
                else { p.countIncludePad = a[11] != 0; irOp = .avgPool2d(p) }
            case .maxUnpool2d:
                try need(2)
                irOp = .maxUnpool2d(MaxUnpool2d(outputH: a[0], outputW: a[1]))
                inputs = acts
            case .globalAveragePool: irOp = .globalAveragePool
            case .resize:
                try need(5)
                let modes: [Resize.Mode] = [.nearest, .linear, .cubic]
                let coords: [Resize.Coordinates] = [.halfPixel, .pytorchHalfPixel, .alignCorners, .asymmetric,
                                                    .halfPixelSymmetric, .tfCropAndResize]
                let nearest: [Resize.NearestRounding] = [.floor, .ceil, .roundPreferFloor, .roundPreferCeil]
                guard modes.indices.contains(a[0]), coords.indices.contains(a[1]), nearest.indices.contains(a[2]) else {
                    throw SegcError(.malformed, "resize attributes \(a)", at: .layer(name))
                }
                var r = Resize(mode: modes[a[0]], coordinates: coords[a[1]], nearest: nearest[a[2]], outputH: a[3], outputW: a[4])
                if a.count >= 7 {   // the general form: two more ints, eight floats
                    guard op.floats.count == 8 else { throw SegcError(.malformed, "resize has \(op.floats.count) floats", at: .layer(name)) }
                    var gen = Resize.General(scaleH: op.floats[0], scaleW: op.floats[1])
                    gen.cubicA = op.floats[2]; gen.extrapolation = op.floats[3]; gen.roi = Array(op.floats[4..<8])
                    gen.excludeOutside = a[5] != 0; gen.antialias = a[6] != 0
                    r.general = gen
                }
                irOp = .resize(r)
            case .add: irOp = .add; inputs = acts + consts
            case .sub: irOp = .sub; inputs = acts + consts
            case .mul: irOp = .mul; inputs = acts + consts
            case .div: irOp = .div; inputs = acts + consts
            case .relu: irOp = .relu
            case .prelu: irOp = .prelu
            case .sigmoid: irOp = .sigmoid
            case .concat:
                try need(1)
                irOp = .concat(axis: a[0])
                inputs = acts
            case .channelAffine: irOp = .channelAffine
            case .pad:
                guard let value = op.floats.first else { throw SegcError(.malformed, "pad without its value", at: .layer(name)) }
                irOp = .pad(Pad(pads: a, value: value))
            case .softmax:
                try need(1)
                irOp = .softmax(axis: a[0])
            case .reshape:
                irOp = .reshape(shape: a)
            case .batchNormTraining:
                // One [4, C] weight (scale, bias, mean, variance) back to four constants.
                guard let w = op.weights.first, w.shape.count == 2, w.shape[0] == 4, op.floats.count >= 2 else {
                    throw SegcError(.malformed, "batch norm parameters", at: .layer(name))
                }
                let all = g.constants[consts[0]]!.floats()
                let c = w.shape[1]
                inputs = [acts[0]] + (0..<4).map { k in g.addConstant("\(name).p\(k)", Tensor(Array(all[(k * c)..<((k + 1) * c)]), shape: [c])) }
                irOp = .batchNormTraining(BatchNormTraining(epsilon: op.floats[0], momentum: op.floats[1]))
            case .quantize, .dequantize, .qconv2d, .qconvTranspose2d, .qchannelAffine:
                throw SegcError(.unsupported, "\(op.kind.name) has no IR form", at: .layer(name))
            case .quantizeDequantize:
                try need(3)
                guard let scale = op.floats.first else { throw SegcError(.malformed, "quantize without its scale", at: .layer(name)) }
                irOp = .quantizeDequantize(QuantizeDequantize(scale: scale, zeroPoint: a[0], qmin: a[1], qmax: a[2]))
            }
            let outs = try g.add(irOp, inputs, name: name)
            guard outs.count == op.outputs.count else {
                throw SegcError(.malformed, "\(op.kind.name) has \(op.outputs.count) outputs, the IR op \(outs.count)", at: .layer(name))
            }
            for (v, id) in zip(op.outputs, outs) {
                if g.type(of: id).shape != pg.values[v].shape {
                    throw SegcError(.mismatch, "value \(v): plan shape \(pg.values[v].shape), lifted \(g.type(of: id).shape)", at: .layer(name))
                }
                valueOf[v] = id
            }
        }
        g.outputs = [try activation(pg.output)]
        try g.verify()
        return g
    }

    static func activationOf(_ code: Int) throws(SegcError) -> Activation {
        switch code {
        case 0: return .none
        case 1: return .relu
        case 2: return .prelu
        default: throw SegcError(.malformed, "activation code \(code)")
        }
    }
}
