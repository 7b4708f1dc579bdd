import SegcCore

/// Semantic checks of a plan (Docs/PlanFormat.md §10, steps 11–14), shared by the
/// reader (on hostile data) and the writer (so it never writes a plan the reader
/// would refuse). Errors carry `.section(...)`; the caller adds the file.
package enum PlanVerifier {
    package static func verify(_ plan: PlanFile) throws(SegcError) {
        try verify(metadata: plan.metadata, graph: plan.graph, weightsByteCount: plan.weights.count,
                   sourceMapCount: plan.sourceMap.count)
    }

    package static func verify(metadata m: PlanMetadata, graph g: PlanGraph, weightsByteCount: Int,
                               sourceMapCount: Int) throws(SegcError) {
        func graphError(_ message: String, _ kind: SegcError.Kind = .malformed) -> SegcError {
            SegcError(kind, message, at: .section("GRPH"))
        }
        // Values: well-formed in themselves (the reader already ensured this for files).
        if g.arenaBytes < 0 || g.arenaBytes > Limits.maxAllocationBytes {
            throw graphError("arena size \(g.arenaBytes) outside 0...\(Limits.maxAllocationBytes)", .limit)
        }
        var byteCounts: [Int] = []
        byteCounts.reserveCapacity(g.values.count)
        for (i, v) in g.values.enumerated() {
            if v.shape.contains(where: { $0 < 1 }) { throw graphError("value \(i) has an empty dimension \(v.shape)") }
            do throws(SegcError) {
                let n = try Checked.elementCount(v.shape, "value \(i)")
                byteCounts.append(try Checked.mul(n, v.dtype.byteSize, "value \(i) byte size"))
            } catch { throw error.at(.section("GRPH")) }
        }
        if g.input < 0 || g.input >= g.values.count || g.output < 0 || g.output >= g.values.count {
            throw graphError("input \(g.input) or output \(g.output) is not one of the \(g.values.count) values")
        }

        // META agrees with GRPH.
        func metaError(_ message: String) -> SegcError { SegcError(.mismatch, message, at: .section("META")) }
        let vin = g.values[g.input], vout = g.values[g.output]
        if m.inputShape != vin.shape || m.inputDType != vin.dtype.jsonName {
            throw metaError("input \(m.inputDType)\(m.inputShape) does not match the graph input \(PlanTensorType(vin.dtype, vin.shape))")
        }
        if m.inputLayout != "NCHW" { throw metaError("unknown input layout '\(m.inputLayout)'") }
        // One mean/std entry per input channel: `run` normalises plane by plane.
        if vin.shape.count == 4 && m.mean.count != vin.shape[1] {
            throw metaError("preprocessing has \(m.mean.count) mean/std entries for \(vin.shape[1]) input channels")
        }
        if m.outputShape != vout.shape || m.outputDType != vout.dtype.jsonName {
            throw metaError("output \(m.outputDType)\(m.outputShape) does not match the graph output \(PlanTensorType(vout.dtype, vout.shape))")
        }
        var seen: Set<Int> = [g.input, g.output]
        for e in m.extraOutputs {
            guard e.value < g.values.count, seen.insert(e.value).inserted else {
                throw metaError("extra output '\(e.name)' is value \(e.value): not a distinct graph value")
            }
            let v = g.values[e.value]
            if e.shape != v.shape || e.dtype != v.dtype.jsonName {
                throw metaError("extra output '\(e.name)' \(e.dtype)\(e.shape) does not match value \(e.value) \(PlanTensorType(v.dtype, v.shape))")
            }
        }
        var guarded: Set<Int> = []
        for r in m.rangeGuard {
            guard r.op < g.ops.count, let v = g.ops[r.op].outputs.first, v >= 0, v < g.values.count,
                  g.values[v].dtype == .u8, guarded.insert(r.op).inserted else {
                throw metaError("range_guard names op \(r.op): not a distinct op with a uint8 output")
            }
            if r.limit < r.max { throw metaError("range_guard of op \(r.op): limit \(r.limit) below max \(r.max)") }
        }
        var gridded: Set<Int> = []
        for v in m.valueGrids {
            guard v.value < g.values.count, g.values[v.value].dtype == .u8, gridded.insert(v.value).inserted else {
                throw metaError("value_grids names value \(v.value): not a distinct uint8 value")
            }
        }
        if m.classes > 0 && vout.shape.count >= 2 && vout.shape[1] != m.classes {
            throw metaError("\(m.classes) classes but the output has \(vout.shape[1]) channels")
        }
        if !m.classNames.isEmpty && m.classNames.count != m.classes {
            throw metaError("class_names has \(m.classNames.count) names for \(m.classes) classes")
        }
        if sourceMapCount != 0 && sourceMapCount != g.ops.count {
            throw SegcError(.mismatch, "source map has \(sourceMapCount) entries for \(g.ops.count) ops", at: .section("SRCM"))
        }

        // Ops in order: operands defined earlier, every value defined once, types re-inferred.
        var defined = [Bool](repeating: false, count: g.values.count)
        defined[g.input] = true
        var types: [PlanTensorType] = []
        for (i, op) in g.ops.enumerated() {
            let label = "op \(i) (\(op.kind.name))"
            types.removeAll(keepingCapacity: true)
            for v in op.inputs {
                if v < 0 || v >= g.values.count { throw graphError("\(label): input \(v) is not a value") }
                if !defined[v] { throw graphError("\(label): input value \(v) is used before it is defined") }
                types.append(PlanTensorType(g.values[v].dtype, g.values[v].shape))
            }
            for v in op.outputs {
                if v < 0 || v >= g.values.count { throw graphError("\(label): output \(v) is not a value") }
                if defined[v] { throw graphError("\(label): output value \(v) is defined twice") }
                defined[v] = true
            }
            if op.layout != .nchw { throw graphError("\(label): unsupported layout \(op.layout)", .unsupported) }
            let inferred: [PlanTensorType]
            do throws(SegcError) { inferred = try PlanShapeInference.infer(op, inputs: types) }
            catch { throw SegcError(error.kind, "op \(i): \(error.message)", at: .section("GRPH")) }
            if inferred.count != op.outputs.count {
                throw graphError("\(label): has \(op.outputs.count) outputs, expected \(inferred.count)")
            }
            for (k, v) in op.outputs.enumerated() {
                let rec = PlanTensorType(g.values[v].dtype, g.values[v].shape)
                if rec != inferred[k] {
                    throw graphError("\(label): output value \(v) is recorded as \(rec) but the op gives \(inferred[k])", .mismatch)
                }
            }
        }
        if let v = defined.firstIndex(of: false) { throw graphError("value \(v) is never defined") }

        // Weights inside WGHT, aligned, sized by dtype and shape.
        for (i, op) in g.ops.enumerated() {
            for (j, r) in op.weights.enumerated() {
                let what = "op \(i) (\(op.kind.name)) weight \(j)"
                if r.offset < 0 || r.offset % 64 != 0 {
                    throw graphError("\(what): offset \(r.offset) is not a multiple of 64")
                }
                let end: Int
                do throws(SegcError) {
                    let n = try Checked.elementCount(r.shape, what)
                    end = try Checked.add(r.offset, try Checked.mul(n, r.dtype.byteSize, what), what)
                } catch { throw error.at(.section("GRPH")) }
                if end > weightsByteCount {
                    throw graphError("\(what): bytes \(r.offset)..<\(end) lie outside WGHT (\(weightsByteCount) bytes)")
                }
            }
        }

        // Arena slots.
        for (i, v) in g.values.enumerated() {
            if v.arenaOffset < 0 || v.arenaOffset % 64 != 0 {
                throw graphError("value \(i): arena offset \(v.arenaOffset) is not a multiple of 64")
            }
            let (end, o) = v.arenaOffset.addingReportingOverflow(byteCounts[i])
            if o || end > g.arenaBytes {
                throw graphError("value \(i): arena slot \(v.arenaOffset)+\(byteCounts[i]) exceeds the arena (\(g.arenaBytes) bytes)")
            }
        }
    }
}
