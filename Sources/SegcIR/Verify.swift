import SegcCore

extension Graph {
    /// Checks every structural invariant of the IR (architecture.md §3):
    ///
    /// - every value id (graph inputs/outputs, constants, node operands) is in range;
    /// - every value is defined exactly once — as a graph input, a constant or a node
    ///   output — and every node's inputs are defined before the node (graph inputs,
    ///   constants, or outputs of earlier nodes), so the node list is a topological
    ///   order and the graph is acyclic;
    /// - graph outputs are defined;
    /// - value types have rank ≤ 8, non-negative dims and at most
    ///   `Limits.maxTensorElements` elements (so element counts never overflow);
    /// - constant tensors agree with their value's type (dtype, shape), their storage
    ///   holds exactly `elementCount` elements of a kind matching the dtype, and
    ///   quantized tensors carry correctly sized `QuantParams`;
    /// - each node's output types, re-inferred with `ShapeInference.infer`, equal the
    ///   recorded value types.
    ///
    /// Errors are `.mismatch` and name the offending node (`.node(name)`), or the
    /// value (`.key(name)`) for problems outside nodes.
    package func verify() throws(SegcError) {
        let count = values.count
        func inRange(_ v: ValueID) -> Bool { v.index >= 0 && v.index < count }
        func valueName(_ v: ValueID) -> String { inRange(v) ? values[v.index].name : "\(v)" }
        func fail(_ message: String, _ location: SegcError.Location) -> SegcError {
            SegcError(.mismatch, message, at: location)
        }

        // Value types.
        for (i, v) in values.enumerated() {
            if v.type.shape.count > Limits.maxTensorRank {
                throw fail("value %\(i) has rank \(v.type.shape.count), above \(Limits.maxTensorRank)", .key(v.name))
            }
            if v.type.shape.contains(where: { $0 < 0 }) {
                throw fail("value %\(i) has a negative dimension: \(v.type)", .key(v.name))
            }
            var n = 1
            for d in v.type.shape {
                let (r, o) = n.multipliedReportingOverflow(by: d)
                if o || r > Limits.maxTensorElements {
                    throw SegcError(.limit, "value %\(i) \(v.type) has more than \(Limits.maxTensorElements) elements",
                                    at: .key(v.name))
                }
                n = r
            }
        }

        // Definitions: graph inputs and constants first.
        var defined = [Bool](repeating: false, count: count)
        func define(_ v: ValueID, _ location: SegcError.Location) throws(SegcError) {
            if !inRange(v) { throw fail("value id \(v) out of range (\(count) values)", location) }
            if defined[v.index] { throw fail("value \(v) '\(valueName(v))' is defined more than once", location) }
            defined[v.index] = true
        }
        for v in inputs {
            try define(v, .key(valueName(v)))
        }
        // Constants in id order, so errors are deterministic.
        for v in constants.keys.sorted() {
            try define(v, .key(valueName(v)))
            if let t = constants[v] { try checkConstant(v, t, values[v.index]) }
        }

        // Nodes in order.
        for node in nodes {
            let loc = SegcError.Location.node(node.name)
            var inTypes: [ValueType] = []
            inTypes.reserveCapacity(node.inputs.count)
            for (k, v) in node.inputs.enumerated() {
                if !inRange(v) { throw fail("input \(k) is value id \(v), out of range (\(count) values)", loc) }
                if !defined[v.index] {
                    throw fail("input \(k) \(v) '\(valueName(v))' is not defined before this node", loc)
                }
                inTypes.append(values[v.index].type)
            }
            if node.outputs.isEmpty { throw fail("node has no outputs", loc) }
            let inferred: [ValueType]
            do { inferred = try ShapeInference.infer(node.op, inTypes) } catch { throw error.at(loc) }
            if inferred.count != node.outputs.count {
                throw fail("\(node.op.name) produces \(inferred.count) outputs, node lists \(node.outputs.count)", loc)
            }
            for (k, v) in node.outputs.enumerated() {
                try define(v, loc)
                let recorded = values[v.index].type
                if recorded != inferred[k] {
                    throw fail("output \(k) \(v) is recorded as \(recorded) but infers to \(inferred[k])", loc)
                }
            }
        }

        for v in outputs {
            if !inRange(v) { throw fail("graph output id \(v) out of range (\(count) values)", .key("\(v)")) }
            if !defined[v.index] { throw fail("graph output \(v) is never defined", .key(valueName(v))) }
        }
        for i in 0..<count where !defined[i] {
            throw fail("value %\(i) is never defined", .key(values[i].name))
        }
    }

    private func checkConstant(_ v: ValueID, _ t: Tensor, _ value: Value) throws(SegcError) {
        let loc = SegcError.Location.key(value.name)
        func fail(_ m: String) -> SegcError { SegcError(.mismatch, "constant \(v): \(m)", at: loc) }
        if t.dtype != value.type.dtype || t.shape != value.type.shape {
            throw fail("tensor is \(t.dtype.rawValue)\(t.shape) but the value is \(value.type)")
        }
        if t.shape.count > Limits.maxTensorRank || t.shape.contains(where: { $0 < 0 }) {
            throw fail("bad shape \(t.shape)")
        }
        var n = 1
        for d in t.shape {
            let (r, o) = n.multipliedReportingOverflow(by: d)
            if o { throw fail("element count overflows") }
            n = r
        }
        if t.storage.count != n {
            throw fail("storage holds \(t.storage.count) elements, shape \(t.shape) needs \(n)")
        }
        let storageOK: Bool
        switch (t.dtype, t.storage) {
        case (.f32, .f32), (.f64, .f64), (.i64, .i64), (.i32, .i32), (.i8, .i8), (.u8, .u8), (.bool, .bool),
             (.qi8, .i8), (.qu8, .u8):
            storageOK = true
        case (.i16, .i32):
            // No i16 storage case: i16 constants are held widened in i32.
            storageOK = true
        default:
            storageOK = false
        }
        if !storageOK { throw fail("storage kind does not match dtype \(t.dtype.rawValue)") }

        let quantized = t.dtype == .qi8 || t.dtype == .qu8
        if quantized {
            guard let q = t.quant else { throw fail("quantized tensor without quantization parameters") }
            if q.scales.count != q.zeroPoints.count {
                throw fail("\(q.scales.count) scales but \(q.zeroPoints.count) zero points")
            }
            if let axis = q.axis {
                if axis < 0 || axis >= t.shape.count { throw fail("quantization axis \(axis) out of range") }
                if q.scales.count != t.shape[axis] {
                    throw fail("\(q.scales.count) scales for \(t.shape[axis]) channels on axis \(axis)")
                }
            } else if q.scales.count != 1 {
                throw fail("per-tensor quantization needs 1 scale, got \(q.scales.count)")
            }
            if q.scales.contains(where: { !($0.isFinite && $0 > 0) }) {
                throw fail("quantization scales must be finite and positive")
            }
            let range: ClosedRange<Int64> = t.dtype == .qi8 ? -128...127 : 0...255
            if q.zeroPoints.contains(where: { !range.contains($0) }) {
                throw fail("zero point outside \(range)")
            }
        } else if t.quant != nil {
            throw fail("quantization parameters on a \(t.dtype.rawValue) tensor")
        }
    }
}
