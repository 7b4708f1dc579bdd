import SegcCore

/// Little-endian byte appender used by the writer.
package struct PlanByteWriter {
    package var bytes: [UInt8] = []
    package init() {}
    package mutating func u8(_ v: UInt8) { bytes.append(v) }
    package mutating func u16(_ v: UInt16) { le(v) }
    package mutating func u32(_ v: UInt32) { le(v) }
    package mutating func u64(_ v: UInt64) { le(v) }
    package mutating func i64(_ v: Int64) { le(UInt64(bitPattern: v)) }
    package mutating func f32(_ v: Float) { le(v.bitPattern) }
    private mutating func le<T: FixedWidthInteger>(_ v: T) {
        for i in 0..<MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }
}

/// `GRPH` and `SRCM` ⇄ in-memory (Docs/PlanFormat.md §6, §8).
package enum PlanGraphCodec {
    package static let graphVersion: UInt32 = 1

    // MARK: writing (input is in-memory and already verified, but still checked)

    private static func u32(_ v: Int, _ what: String) throws(SegcError) -> UInt32 {
        guard let r = UInt32(exactly: v) else { throw SegcError(.malformed, "\(what) \(v) does not fit the plan format") }
        return r
    }

    private static func u16(_ v: Int, _ what: String) throws(SegcError) -> UInt16 {
        guard let r = UInt16(exactly: v) else { throw SegcError(.limit, "\(what) \(v) exceeds \(UInt16.max)") }
        return r
    }

    private static func u64(_ v: Int, _ what: String) throws(SegcError) -> UInt64 {
        guard let r = UInt64(exactly: v) else { throw SegcError(.malformed, "\(what) \(v) is negative") }
        return r
    }

    private static func shape(_ s: [Int], _ w: inout PlanByteWriter, _ what: String) throws(SegcError) {
        for d in s { w.i64(Int64(d)) }
    }

    private static func rank(_ s: [Int], _ what: String) throws(SegcError) -> UInt8 {
        if s.count > Limits.maxTensorRank {
            throw SegcError(.limit, "\(what) has rank \(s.count), above the limit of \(Limits.maxTensorRank)")
        }
        return UInt8(s.count)
    }

    package static func encode(_ g: PlanGraph) throws(SegcError) -> [UInt8] {
        var w = PlanByteWriter()
        w.u32(graphVersion)
        // A plan the reader would refuse is not written.
        try Limits.check(g.values.count, Limits.maxPlanValues, "plan value count")
        try Limits.check(g.ops.count, Limits.maxPlanOps, "plan op count")
        w.u32(try u32(g.values.count, "value count"))
        w.u32(try u32(g.ops.count, "op count"))
        w.u32(try u32(g.input, "input value"))
        w.u32(try u32(g.output, "output value"))
        w.u32(0)
        w.u64(try u64(g.arenaBytes, "arena size"))
        for (i, v) in g.values.enumerated() {
            w.u8(v.dtype.rawValue)
            w.u8(try rank(v.shape, "value \(i)"))
            w.u16(0); w.u32(0)
            w.u64(try u64(v.arenaOffset, "value \(i) arena offset"))
            try shape(v.shape, &w, "value \(i)")
        }
        for (i, op) in g.ops.enumerated() {
            w.u16(op.kind.rawValue)
            w.u8(op.layout.rawValue)
            w.u8(op.algorithm.rawValue)
            w.u16(try u16(op.inputs.count, "op \(i) input count"))
            w.u16(try u16(op.outputs.count, "op \(i) output count"))
            w.u16(try u16(op.weights.count, "op \(i) weight count"))
            w.u16(try u16(op.ints.count, "op \(i) int attribute count"))
            w.u16(try u16(op.floats.count, "op \(i) float attribute count"))
            w.u16(0)
            for v in op.inputs { w.u32(try u32(v, "op \(i) input")) }
            for v in op.outputs { w.u32(try u32(v, "op \(i) output")) }
            for r in op.weights {
                w.u64(try u64(r.offset, "op \(i) weight offset"))
                w.u8(r.dtype.rawValue)
                w.u8(try rank(r.shape, "op \(i) weight"))
                w.u16(0); w.u32(0)
                try shape(r.shape, &w, "op \(i) weight")
            }
            for v in op.ints { w.i64(v) }
            for v in op.floats { w.f32(v) }
        }
        return w.bytes
    }

    package static func encodeSourceMap(_ names: [String]) throws(SegcError) -> [UInt8] {
        var w = PlanByteWriter()
        w.u32(try u32(names.count, "source map count"))
        for n in names {
            let b = Array(n.utf8)
            w.u32(try u32(b.count, "source map entry length"))
            w.bytes.append(contentsOf: b)
        }
        return w.bytes
    }

    // MARK: reading (hostile input)

    private static func reserved(_ c: inout ByteCursor, _ n: Int) throws(SegcError) {
        let at = c.position
        for _ in 0..<n where try c.u8() != 0 { throw c.failure("reserved bytes are not zero", at: at) }
    }

    private static func dtype(_ c: inout ByteCursor, _ what: String) throws(SegcError) -> PlanDType {
        let at = c.position
        let raw = try c.u8()
        guard let d = PlanDType(rawValue: raw) else { throw c.failure("\(what): unknown dtype code \(raw)", kind: .unsupported, at: at) }
        return d
    }

    private static func dims(_ c: inout ByteCursor, _ rank: UInt8, min: Int, _ what: String) throws(SegcError) -> [Int] {
        if Int(rank) > Limits.maxTensorRank {
            throw c.failure("\(what) has rank \(rank), above the limit of \(Limits.maxTensorRank)", kind: .limit)
        }
        var s: [Int] = []
        s.reserveCapacity(Int(rank))
        for _ in 0..<Int(rank) {
            let at = c.position
            let d = try c.i64()
            if d < Int64(min) || d > Int64(Limits.maxDimension) {
                throw c.failure("\(what) has dimension \(d) outside \(min)...\(Limits.maxDimension)", at: at)
            }
            s.append(Int(d))
        }
        do throws(SegcError) { _ = try Checked.elementCount(s, what) } catch { throw c.failure(error.message, kind: error.kind) }
        return s
    }

    private static func count(_ c: inout ByteCursor, _ n: Int, each: Int, _ what: String) throws(SegcError) {
        // Every entry takes at least `each` bytes: refuse counts the section cannot hold
        // before allocating for them.
        let (need, o) = n.multipliedReportingOverflow(by: each)
        if o || need > c.remaining { throw c.failure("\(what) \(n) does not fit in the section") }
    }

    package static func decode(_ c: inout ByteCursor) throws(SegcError) -> PlanGraph {
        let vat = c.position
        let version = try c.u32()
        if version != graphVersion { throw c.failure("unknown graph encoding version \(version)", kind: .unsupported, at: vat) }
        let cat = c.position
        let nValues = Int(try c.u32())
        let nOps = Int(try c.u32())
        if nValues > Limits.maxPlanValues || nOps > Limits.maxPlanOps {
            throw c.failure("\(nValues) values and \(nOps) ops exceed the limits of \(Limits.maxPlanValues) values and \(Limits.maxPlanOps) ops",
                            kind: .limit, at: cat)
        }
        let iat = c.position
        let input = Int(try c.u32())
        let output = Int(try c.u32())
        if input >= nValues || output >= nValues {
            throw c.failure("input \(input) or output \(output) is not one of the \(nValues) values", at: iat)
        }
        try reserved(&c, 4)
        let aat = c.position
        let arena = try c.u64()
        if arena > UInt64(Limits.maxAllocationBytes) {
            throw c.failure("arena size \(arena) exceeds the limit of \(Limits.maxAllocationBytes)", kind: .limit, at: aat)
        }
        try count(&c, nValues, each: 16, "value count")
        var values: [PlanValue] = []
        values.reserveCapacity(nValues)
        for i in 0..<nValues {
            let dt = try dtype(&c, "value \(i)")
            let rank = try c.u8()
            try reserved(&c, 6)
            let oat = c.position
            let off = try c.u64()
            if off > UInt64(Limits.maxAllocationBytes) { throw c.failure("value \(i) arena offset \(off) exceeds the arena limit", at: oat) }
            let shape = try dims(&c, rank, min: 1, "value \(i)")
            values.append(PlanValue(dtype: dt, shape: shape, arenaOffset: Int(off)))
        }
        try count(&c, nOps, each: 16, "op count")
        var ops: [PlanOp] = []
        ops.reserveCapacity(nOps)
        for i in 0..<nOps {
            let kat = c.position
            let code = try c.u16()
            guard let kind = PlanOpKind(rawValue: code) else {
                throw c.failure("op \(i): unknown op code \(code)", kind: .unsupported, at: kat)
            }
            let lat = c.position
            let lraw = try c.u8()
            guard let layout = PlanLayout(rawValue: lraw) else {
                throw c.failure("op \(i) (\(kind.name)): unknown layout code \(lraw)", kind: .unsupported, at: lat)
            }
            let araw = try c.u8()
            guard let algorithm = PlanAlgorithm(rawValue: araw) else {
                throw c.failure("op \(i) (\(kind.name)): unknown algorithm code \(araw)", kind: .unsupported, at: lat + 1)
            }
            let nIn = Int(try c.u16()), nOut = Int(try c.u16()), nW = Int(try c.u16())
            let nI = Int(try c.u16()), nF = Int(try c.u16())
            try reserved(&c, 2)
            try count(&c, nIn + nOut, each: 4, "op \(i) operand count")
            var inputs: [Int] = [], outputs: [Int] = []
            for _ in 0..<nIn { inputs.append(Int(try c.u32())) }
            for _ in 0..<nOut { outputs.append(Int(try c.u32())) }
            try count(&c, nW, each: 16, "op \(i) weight count")
            var weights: [WeightRef] = []
            for j in 0..<nW {
                let wat = c.position
                let off = try c.u64()
                if off > UInt64(Int.max) { throw c.failure("op \(i) weight \(j) offset \(off) is too large", at: wat) }
                let dt = try dtype(&c, "op \(i) weight \(j)")
                let rank = try c.u8()
                try reserved(&c, 6)
                let shape = try dims(&c, rank, min: 0, "op \(i) weight \(j)")
                weights.append(WeightRef(offset: Int(off), dtype: dt, shape: shape))
            }
            try count(&c, nI, each: 8, "op \(i) int attribute count")
            var ints: [Int64] = []
            for _ in 0..<nI { ints.append(try c.i64()) }
            try count(&c, nF, each: 4, "op \(i) float attribute count")
            var floats: [Float] = []
            for _ in 0..<nF { floats.append(try c.f32()) }
            ops.append(PlanOp(kind: kind, inputs: inputs, outputs: outputs, weights: weights, ints: ints,
                              floats: floats, layout: layout, algorithm: algorithm))
        }
        if !c.isAtEnd { throw c.failure("\(c.remaining) trailing bytes after the last op") }
        return PlanGraph(values: values, ops: ops, input: input, output: output, arenaBytes: Int(arena))
    }

    package static func decodeSourceMap(_ c: inout ByteCursor) throws(SegcError) -> [String] {
        let n = Int(try c.u32())
        try count(&c, n, each: 4, "source map count")
        var out: [String] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let len = Int(try c.u32())
            out.append(try c.utf8(len))
        }
        if !c.isAtEnd { throw c.failure("\(c.remaining) trailing bytes after the source map") }
        return out
    }
}
