import SegcPlan

/// A small float32 plan under construction for the quantization tests: values laid out one
/// after another (64-byte aligned) when the plan is made, weights appended to one blob, a
/// source-map name per op, and a seeded generator for weights.
struct TestPlanBuilder {
    var values: [PlanValue] = [], ops: [PlanOp] = [], bytes: [UInt8] = [], names: [String] = []
    var seed: UInt64

    init(seed: UInt64 = 11) { self.seed = seed }

    mutating func value(_ s: [Int]) -> Int { values.append(PlanValue(dtype: .f32, shape: s, arenaOffset: 0)); return values.count - 1 }

    mutating func weight(_ d: [Float], _ s: [Int]) -> WeightRef {
        while bytes.count % 64 != 0 { bytes.append(0) }
        let r = WeightRef(offset: bytes.count, dtype: .f32, shape: s)
        for f in d { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return r
    }

    /// Uniform in [−1, 1): a 64-bit LCG from `seed`.
    mutating func rnd() -> Float {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Float(seed >> 40) / Float(1 << 23) - 1
    }

    /// Appends `op`, named `name` in the source map.
    mutating func add(_ op: PlanOp, name: String) {
        ops.append(op)
        names.append(name)
    }

    /// The plan: `output`'s channels are the classes, the input needs no normalisation.
    func plan(input x: Int, output y: Int) -> PlanFile {
        var vals = values, off = 0
        for i in vals.indices { vals[i].arenaOffset = off; off += (vals[i].byteCount + 63) & ~63 }
        var meta = PlanMetadata()
        meta.inputShape = vals[x].shape
        meta.outputShape = vals[y].shape
        meta.classes = vals[y].shape[1]
        meta.mean = [Double](repeating: 0, count: vals[x].shape[1]); meta.std = [Double](repeating: 1, count: vals[x].shape[1])
        return PlanFile(metadata: meta, graph: PlanGraph(values: vals, ops: ops, input: x, output: y, arenaBytes: off),
                        weights: PlanWeights(owned: bytes), sourceMap: names)
    }
}
