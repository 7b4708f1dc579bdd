import SegcCore
import SegcIR

/// ONNX `Slice` (starts, ends, axes, steps as inputs; attributes `starts`, `ends`,
/// `axes` and no steps before opset 10): folds on constants; a contiguous slice (steps 1)
/// of a runtime value is a crop (`pad` with negative amounts).
enum SliceImporter {
    static let entry = OpImporter("Slice", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let s = try ctx.sym(0)
        let shape = s.shape
        let r = shape.count
        let starts: [Int64], ends: [Int64]
        var rawAxes: [Int]?
        if ctx.opset < 10 {
            guard let st = try ctx.attrInts("starts"), let en = try ctx.attrInts("ends") else { throw ctx.malformed("missing starts/ends") }
            starts = st.map { Int64($0) }; ends = en.map { Int64($0) }
            rawAxes = try ctx.attrInts("axes")
        } else {
            starts = try ctx.requireConst(1, "starts").int64s()
            ends = try ctx.requireConst(2, "ends").int64s()
            if ctx.has(3) { rawAxes = try ctx.constInts(3, "axes") }
        }
        var axes: [Int] = Array(0..<starts.count)
        if let rawAxes { axes = [] ; for a in rawAxes { axes.append(try ctx.axis(a, rank: r)) } }
        var steps = [Int64](repeating: 1, count: starts.count)
        if ctx.opset >= 10 && ctx.has(4) { steps = try ctx.requireConst(4, "steps").int64s() }
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw ctx.malformed("starts/ends/axes/steps differ in length")
        }
        // Without `axes` they are 0 ..< starts.count: more starts than the input has axes
        // would index past its shape. Explicit axes are in range (`ctx.axis`); each once.
        if starts.count > r { throw ctx.malformed("\(starts.count) starts for an input of rank \(r)") }
        if Set(axes).count != axes.count { throw ctx.malformed("axes \(axes) repeat an axis") }
        var spec = shape.map { (start: 0, step: 1, count: $0) }
        for (k, a) in axes.enumerated() {
            let dim = Int64(shape[a])
            let step = steps[k]
            if step == 0 { throw ctx.malformed("step 0") }
            // Before any arithmetic on it: ±step and the count below trap on huge steps.
            guard step.magnitude <= UInt64(Limits.maxDimension) else { throw ctx.malformed("step \(step)") }
            func clamp(_ v: Int64, _ lo: Int64, _ hi: Int64) -> Int64 { min(max(v, lo), hi) }
            var st = starts[k], en = ends[k]
            if st < 0 { st = st &+ dim }
            if en < 0 { en = en &+ dim }
            let count: Int64
            if step > 0 {
                st = clamp(st, 0, dim); en = clamp(en, 0, dim)
                count = en > st ? (en - st + step - 1) / step : 0
            } else {
                st = clamp(st, 0, dim - 1); en = clamp(en, -1, dim - 1)
                count = st > en ? (st - en + (-step) - 1) / (-step) : 0
            }
            spec[a] = (Int(st), Int(step), Int(count))
        }
        if case .const(let t) = s {
            ctx.set(0, .const(try Fold.slice(t, spec)))
            return
        }
        let whole = spec.enumerated().allSatisfy { $0.element.start == 0 && $0.element.step == 1 && $0.element.count == shape[$0.offset] }
        if whole { ctx.set(0, s); return }
        guard case .rt = s else { throw ctx.unsupported("Slice of max-pool indices outside the unpool pattern") }
        // A contiguous crop (steps 1) of a runtime tensor is a pad with negative amounts.
        guard spec.allSatisfy({ $0.step == 1 && $0.count >= 1 }) else {
            throw ctx.unsupported("Slice of a runtime tensor with steps \(spec.map(\.step)) or an empty result")
        }
        let x = try ctx.runtime(0)
        let pads = spec.map { -$0.start } + spec.enumerated().map { -(shape[$0.offset] - $0.element.start - $0.element.count) }
        ctx.setRuntime(0, try ctx.emit(.pad(Pad(pads: pads, value: 0)), [x])[0])
    }
}
