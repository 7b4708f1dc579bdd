import SegcCore
import SegcIR

/// ONNX `Pad` (mode constant) → `pad`; constant inputs fold (TorchScript's
/// zero buffer of the unpool pattern). Before opset 11 `pads` and `value` are
/// attributes; from 11 they are inputs (and from 18 `axes` may select dimensions).
enum PadImporter {
    static let entry = OpImporter("Pad", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let mode = try ctx.attrString("mode", "constant")
        if mode != "constant" { throw ctx.unsupported("Pad mode '\(mode)'") }
        let s = try ctx.sym(0)
        let rank = s.shape.count
        var raw: [Int]
        if ctx.opset < 11 {
            guard let p = try ctx.attrInts("pads") else { throw ctx.malformed("missing pads") }
            raw = p
        } else {
            raw = try ctx.constInts(1, "pads")
        }
        if ctx.opset >= 18 && ctx.has(3) {
            let axes = try ctx.constInts(3, "axes")
            guard raw.count == 2 * axes.count else { throw ctx.malformed("pads has \(raw.count) values for \(axes.count) axes") }
            var full = [Int](repeating: 0, count: 2 * rank)
            for (k, a) in axes.enumerated() {
                let ax = try ctx.axis(a, rank: rank)
                full[ax] = raw[k]; full[ax + rank] = raw[k + axes.count]
            }
            raw = full
        }
        guard raw.count == 2 * rank else { throw ctx.malformed("pads has \(raw.count) values for rank \(rank)") }
        // magnitude, not abs: abs(Int.min) traps.
        for p in raw where p.magnitude > UInt(Limits.maxDimension) { throw ctx.malformed("pad \(p) out of range") }
        var value: Float = 0
        if ctx.opset < 11 {
            value = try ctx.attrFloat("value", 0)
        } else if let v = try ctx.constant(2) {
            guard let f = v.floats().first else { throw ctx.malformed("empty constant_value") }
            value = f
        } else if ctx.has(2) {
            throw ctx.unsupported("Pad with a runtime constant_value")
        }
        var outShape = s.shape
        for d in 0..<rank {
            outShape[d] += raw[d] + raw[d + rank]
            if outShape[d] < 0 { throw ctx.malformed("negative output size") }
        }
        if case .const(let t) = s {
            ctx.set(0, .const(try fold(t, raw, value, outShape)))
            return
        }
        let x = try ctx.runtime(0)
        if raw.allSatisfy({ $0 == 0 }) { ctx.setRuntime(0, x); return }
        ctx.setRuntime(0, try ctx.emit(.pad(Pad(pads: raw, value: value)), [x])[0])
    }

    static func fold(_ t: Tensor, _ pads: [Int], _ value: Float, _ outShape: [Int]) throws(SegcError) -> Tensor {
        let r = t.shape.count
        let n = try Fold.count(outShape, "Pad result")
        let src = t.doubles()
        var out = [Double](repeating: Double(value), count: n)
        let ost = try Fold.strides(outShape)
        let ist = try Fold.strides(t.shape)
        let total = try Fold.product(t.shape[...])
        outer: for i in 0..<total {
            var o = 0
            for d in 0..<r {
                let c = (i / ist[d]) % t.shape[d] + pads[d]
                if c < 0 || c >= outShape[d] { continue outer }
                o += c * ost[d]
            }
            out[o] = src[i]
        }
        return Tensor.make(t.dtype, outShape, doubles: out)
    }
}
