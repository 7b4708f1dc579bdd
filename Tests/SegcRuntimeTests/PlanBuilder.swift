import SegcPlan

/// Builds small `PlanFile`s by hand for the runtime tests (weights random, arena
/// offsets by liveness with first-fit, 64-byte aligned).
struct PlanBuilder {
    var values: [PlanValue] = []
    var ops: [PlanOp] = []
    var weights: [UInt8] = []
    var rng = Rng(42)

    mutating func value(_ shape: [Int], _ dtype: PlanDType = .f32) -> Int {
        values.append(PlanValue(dtype: dtype, shape: shape, arenaOffset: 0))
        return values.count - 1
    }

    mutating func weight(_ data: [Float], _ shape: [Int]) -> WeightRef {
        while weights.count % 64 != 0 { weights.append(0) }
        let ref = WeightRef(offset: weights.count, dtype: .f32, shape: shape)
        for f in data { withUnsafeBytes(of: f.bitPattern.littleEndian) { weights.append(contentsOf: $0) } }
        return ref
    }

    mutating func randomWeight(_ shape: [Int], scale: Float) -> WeightRef {
        let n = shape.reduce(1, *)
        return weight((0..<n).map { _ in rng.float() * scale }, shape)
    }

    func shape(_ v: Int) -> [Int] { values[v].shape }

    /// conv2d with random weights (scaled by 1/sqrt(fan-in)) and bias.
    mutating func conv(_ x: Int, cout: Int, k: (Int, Int), s: (Int, Int) = (1, 1), pad: (Int, Int, Int, Int),
                       d: (Int, Int) = (1, 1), act: Int = 0, residual: Int? = nil) -> Int {
        let sx = shape(x)
        let oh = (sx[2] + pad.0 + pad.2 - d.0 * (k.0 - 1) - 1) / s.0 + 1
        let ow = (sx[3] + pad.1 + pad.3 - d.1 * (k.1 - 1) - 1) / s.1 + 1
        let y = value([1, cout, oh, ow])
        let fan = Float(sx[1] * k.0 * k.1)
        let w = randomWeight([cout, sx[1], k.0, k.1], scale: 1.7 / fan.squareRoot())
        let b = randomWeight([cout], scale: 0.1)
        let ints: [Int64] = [k.0, k.1, s.0, s.1, pad.0, pad.1, pad.2, pad.3, d.0, d.1, 1, 1, act, residual == nil ? 0 : 1].map { Int64($0) }
        ops.append(PlanOp(kind: .conv2d, inputs: residual.map { [x, $0] } ?? [x], outputs: [y], weights: [w, b], ints: ints, algorithm: .gemm))
        return y
    }

    mutating func convT(_ x: Int, cout: Int, k: Int, s: Int, p: Int, op: Int, act: Int) -> Int {
        let sx = shape(x)
        let oh = (sx[2] - 1) * s - 2 * p + (k - 1) + op + 1, ow = (sx[3] - 1) * s - 2 * p + (k - 1) + op + 1
        let y = value([1, cout, oh, ow])
        let w = randomWeight([sx[1], cout, k, k], scale: 1.7 / Float(sx[1] * k * k / (s * s)).squareRoot())
        let b = randomWeight([cout], scale: 0.1)
        let ints: [Int64] = [k, k, s, s, p, p, p, p, op, op, 1, 1, 1, 1, act, 0].map { Int64($0) }
        ops.append(PlanOp(kind: .convTranspose2d, inputs: [x], outputs: [y], weights: [w, b], ints: ints, algorithm: .gemm))
        return y
    }

    mutating func maxPool(_ x: Int, k: Int, s: Int, indices: Bool = false) -> (Int, Int?) {
        let sx = shape(x)
        let y = value([1, sx[1], (sx[2] - k) / s + 1, (sx[3] - k) / s + 1])
        let idx = indices ? value(shape(y), .i64) : nil
        ops.append(PlanOp(kind: .maxPool2d, inputs: [x], outputs: idx.map { [y, $0] } ?? [y],
                          ints: [Int64(k), Int64(k), Int64(s), Int64(s), 0, 0, 0, 0, 1, 1, 0, indices ? 1 : 0]))
        return (y, idx)
    }

    mutating func simple(_ kind: PlanOpKind, _ inputs: [Int], shape: [Int], weights: [WeightRef] = [], ints: [Int64] = [],
                         floats: [Float] = []) -> Int {
        let y = value(shape)
        ops.append(PlanOp(kind: kind, inputs: inputs, outputs: [y], weights: weights, ints: ints, floats: floats))
        return y
    }

    /// Assigns arena offsets (first fit over live intervals) and returns the plan.
    func finish(input: Int, output: Int) -> PlanFile {
        var first = [Int](repeating: Int.max, count: values.count), last = [Int](repeating: -1, count: values.count)
        first[input] = -1
        for (i, op) in ops.enumerated() {
            for o in op.outputs { first[o] = min(first[o], i); last[o] = max(last[o], i) }
            for v in op.inputs { last[v] = max(last[v], i) }
        }
        last[output] = Int.max
        var vals = values
        var live: [(off: Int, size: Int, end: Int)] = []
        var arena = 0
        for v in values.indices.sorted(by: { first[$0] < first[$1] }) where first[v] != Int.max {
            live.removeAll { $0.end < first[v] }
            let size = (values[v].byteCount + 63) & ~63
            var off = 0
            for l in live.sorted(by: { $0.off < $1.off }) {
                if off + size <= l.off { break }
                off = max(off, l.off + l.size)
            }
            vals[v].arenaOffset = off
            live.append((off, size, last[v]))
            arena = max(arena, off + size)
        }
        var meta = PlanMetadata()
        meta.inputShape = values[input].shape
        meta.outputShape = values[output].shape
        meta.classes = values[output].shape[1]
        let channels = values[input].shape.count == 4 ? values[input].shape[1] : 3
        meta.mean = [Double](repeating: 0, count: channels); meta.std = [Double](repeating: 1, count: channels)
        return PlanFile(metadata: meta, graph: PlanGraph(values: vals, ops: ops, input: input, output: output, arenaBytes: arena),
                        weights: PlanWeights(owned: weights), sourceMap: ops.indices.map { "op\($0)" })
    }

    /// ERFNet (networks.md §1) with random weights, BN folded as the passes would do.
    static func erfnet(height: Int, width: Int, classes: Int = 20) -> PlanFile {
        var b = PlanBuilder()
        let x = b.value([1, 3, height, width])
        func down(_ b: inout PlanBuilder, _ x: Int, _ cout: Int) -> Int {
            let cin = b.shape(x)[1]
            let c = b.conv(x, cout: cout - cin, k: (3, 3), s: (2, 2), pad: (1, 1, 1, 1))
            let (p, _) = b.maxPool(x, k: 2, s: 2)
            let s = b.shape(c)
            let cat = b.simple(.concat, [c, p], shape: [1, cout, s[2], s[3]], ints: [1])
            let sc = b.randomWeight([cout], scale: 1), bi = b.randomWeight([cout], scale: 0.1)
            let a = b.simple(.channelAffine, [cat], shape: b.shape(cat), weights: [sc, bi])
            return b.simple(.relu, [a], shape: b.shape(a))
        }
        func nb(_ b: inout PlanBuilder, _ x: Int, _ d: Int) -> Int {
            let c = b.shape(x)[1]
            let a = b.conv(x, cout: c, k: (3, 1), pad: (1, 0, 1, 0), act: 1)
            let a2 = b.conv(a, cout: c, k: (1, 3), pad: (0, 1, 0, 1), act: 1)
            let a3 = b.conv(a2, cout: c, k: (3, 1), pad: (d, 0, d, 0), d: (d, 1), act: 1)
            return b.conv(a3, cout: c, k: (1, 3), pad: (0, d, 0, d), d: (1, d), act: 1, residual: x)
        }
        var h = down(&b, x, 16)
        h = down(&b, h, 64)
        for _ in 0..<5 { h = nb(&b, h, 1) }
        h = down(&b, h, 128)
        for _ in 0..<2 { for d in [2, 4, 8, 16] { h = nb(&b, h, d) } }
        h = b.convT(h, cout: 64, k: 3, s: 2, p: 1, op: 1, act: 1)
        for _ in 0..<2 { h = nb(&b, h, 1) }
        h = b.convT(h, cout: 16, k: 3, s: 2, p: 1, op: 1, act: 1)
        for _ in 0..<2 { h = nb(&b, h, 1) }
        h = b.convT(h, cout: classes, k: 2, s: 2, p: 0, op: 0, act: 0)
        return b.finish(input: x, output: h)
    }
}
