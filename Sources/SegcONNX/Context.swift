import SegcCore
import SegcIR

/// What an ONNX value is during import.
enum Sym {
    /// A runtime IR value, seen through `shape` (a reshaped view when it differs
    /// from the IR value's shape; only the unpool patterns consume such views).
    case rt(ValueID, [Int])
    /// An import-time constant (initializers, `Constant`, folded shape arithmetic).
    case const(Tensor)
    /// Max-pool indices (IR i64 value of per-plane flat indices, shape [N,C,h,w]),
    /// seen through `shape`. `plane == nil`: per-plane indices as PyTorch defines
    /// them; otherwise global indices `(n*C+c)*plane + i` as ONNX MaxPool writes.
    case indices(ValueID, plane: Int?, shape: [Int])
    /// A max-unpool scatter recognised but not yet given its 4-D output shape:
    /// `x` scattered at `idx` into planes of `plane` elements, seen through `shape`.
    case unpooled(x: ValueID, idx: ValueID, plane: Int, shape: [Int])

    var shape: [Int] {
        switch self {
        case .rt(_, let s), .indices(_, _, let s), .unpooled(_, _, _, let s): return s
        case .const(let t): return t.shape
        }
    }
}

/// Signature of one op importer: reads `ctx.node`, writes its outputs.
typealias ImporterFn = (inout ImportContext) throws(SegcError) -> Void

/// One row of the `(op, opset) → importer` table.
struct OpImporter: Sendable {
    var op: String
    /// Default-domain opsets this importer handles.
    var opsets: ClosedRange<Int>
    var run: @Sendable (inout ImportContext) throws(SegcError) -> Void
    /// Attribute checks that need no inputs, run also when an input comes from an
    /// unsupported node, so that one error message lists every problem.
    var check: (@Sendable (PNode) -> [String])?
    init(_ op: String, _ opsets: ClosedRange<Int> = ONNXImporter.opsets,
         _ run: @escaping @Sendable (inout ImportContext) throws(SegcError) -> Void,
         check: (@Sendable (PNode) -> [String])? = nil) {
        self.op = op; self.opsets = opsets; self.run = run; self.check = check
    }
}

/// State of one import: the IR graph under construction and the ONNX values.
struct ImportContext {
    var graph = Graph()
    var syms: [String: Sym] = [:]
    var graphConstants: [String: ValueID] = [:]
    var opset: Int
    var node: PNode
    var warnings: [String] = []
    /// ONNX names of `QuantizeLinear` outputs on activations (int8/uint8 values that
    /// only `DequantizeLinear` may read), with their parameters.
    var quantized: [String: QuantizeDequantize] = [:]

    init(opset: Int) {
        self.opset = opset
        node = PNode(index: 0, name: "", opType: "", domain: "", inputs: [], outputs: [], attrs: [:])
    }

    // MARK: errors

    func unsupported(_ m: String) -> SegcError { SegcError(.unsupported, m) }
    func malformed(_ m: String) -> SegcError { SegcError(.malformed, "\(node.opType): \(m)") }

    // MARK: inputs

    var inputCount: Int { node.inputs.count }

    func has(_ i: Int) -> Bool { i < node.inputs.count && !node.inputs[i].isEmpty }

    func sym(_ i: Int) throws(SegcError) -> Sym {
        guard has(i) else { throw malformed("missing input \(i)") }
        let name = node.inputs[i]
        guard let s = syms[name] else { throw malformed("input '\(name)' is not defined by an earlier node") }
        return s
    }

    /// Input `i` as a constant, nil when absent.
    func constant(_ i: Int) throws(SegcError) -> Tensor? {
        guard has(i) else { return nil }
        if case .const(let t) = try sym(i) { return t }
        return nil
    }

    /// Input `i`, which must be an import-time constant.
    func requireConst(_ i: Int, _ what: String) throws(SegcError) -> Tensor {
        guard has(i) else { throw malformed("missing \(what)") }
        guard let t = try constant(i) else { throw unsupported("\(node.opType) with a non-constant \(what)") }
        return t
    }

    /// Integer values of constant input `i`.
    func constInts(_ i: Int, _ what: String) throws(SegcError) -> [Int] {
        let t = try requireConst(i, what)
        return try ints(t.int64s(), what)
    }

    func ints(_ v: [Int64], _ what: String) throws(SegcError) -> [Int] {
        v.map { Int($0) }
    }

    /// Input `i` as an IR value: a runtime value in its own shape, or a constant
    /// (added to the graph once, float64 narrowed to float32).
    mutating func value(_ i: Int) throws(SegcError) -> ValueID {
        let s = try sym(i)
        let name = node.inputs[i]
        switch s {
        case .rt:
            return try materialise(name)
        case .const(var t):
            if let id = graphConstants[name] { return id }
            if t.dtype == .f64 { t = Tensor(t.floats(), shape: t.shape) }
            let id = graph.addConstant(name, t)
            graphConstants[name] = id
            return id
        case .indices(let id, let plane, let shape):
            if plane == nil && shape == graph.type(of: id).shape { return id }
            throw unsupported("\(node.opType) of max-pool indices outside the unpool pattern")
        case .unpooled:
            throw unsupported("\(node.opType) of a max-unpool scatter before its final Reshape")
        }
    }

    /// The IR value of the runtime tensor named `name`: a view (Reshape/Flatten/Squeeze/…
    /// of a runtime tensor) becomes a `reshape` node the first time a consumer or a graph
    /// output needs it in its own shape.
    mutating func materialise(_ name: String) throws(SegcError) -> ValueID {
        guard case .rt(let id, let shape)? = syms[name] else { throw malformed("'\(name)' is not a runtime tensor") }
        if shape == graph.type(of: id).shape { return id }
        let r = try graph.add(.reshape(shape: shape), [id], name: name + "/reshape")[0]
        syms[name] = .rt(r, shape)
        return r
    }

    /// Input `i`, which must be a runtime value in its own shape.
    mutating func runtime(_ i: Int) throws(SegcError) -> ValueID {
        if case .const = try sym(i) { throw unsupported("\(node.opType) of a constant input \(i)") }
        return try value(i)
    }

    func type(_ id: ValueID) -> ValueType { graph.type(of: id) }

    // MARK: outputs

    mutating func set(_ k: Int, _ s: Sym) {
        guard k < node.outputs.count, !node.outputs[k].isEmpty else { return }
        syms[node.outputs[k]] = s
    }

    mutating func setRuntime(_ k: Int, _ id: ValueID) { set(k, .rt(id, graph.type(of: id).shape)) }

    /// Adds an IR node named after the ONNX node. Its output shapes are checked (rank,
    /// dims, element count): IR shape inference bounds attributes but not sums such as a
    /// Concat's, and importers do Int arithmetic on the dims of the values they read.
    mutating func emit(_ op: Op, _ inputs: [ValueID], suffix: String = "") throws(SegcError) -> [ValueID] {
        let outs = try graph.add(op, inputs, name: node.name + suffix)
        for o in outs { _ = try Checked.elementCount(graph.type(of: o).shape, "\(node.opType) output") }
        return outs
    }

    func outputUsed(_ k: Int) -> Bool { k < node.outputs.count && !node.outputs[k].isEmpty }

    // MARK: attributes

    func attrInt(_ k: String, _ d: Int) throws(SegcError) -> Int {
        guard let a = node.attrs[k] else { return d }
        guard case .i(let v) = a else { throw malformed("attribute '\(k)' is not an integer") }
        return Int(v)
    }

    func attrInts(_ k: String) throws(SegcError) -> [Int]? {
        guard let a = node.attrs[k] else { return nil }
        guard case .ints(let v) = a else { throw malformed("attribute '\(k)' is not a list of integers") }
        return v.map { Int($0) }
    }

    func attrFloat(_ k: String, _ d: Float) throws(SegcError) -> Float {
        guard let a = node.attrs[k] else { return d }
        switch a {
        case .f(let v): return v
        case .i(let v): return Float(v)
        default: throw malformed("attribute '\(k)' is not a float")
        }
    }

    func attrString(_ k: String, _ d: String) throws(SegcError) -> String {
        guard let a = node.attrs[k] else { return d }
        guard case .s(let v) = a else { throw malformed("attribute '\(k)' is not a string") }
        return v
    }

    /// Spatial attribute values (kernel, stride, pads, dilation) are bounded so
    /// that shape arithmetic never overflows.
    func spatial(_ v: [Int], _ what: String, min lo: Int) throws(SegcError) -> [Int] {
        for x in v where x < lo || x > Limits.maxDimension {
            throw malformed("\(what) value \(x) out of range")
        }
        return v
    }

    /// Refuses, by name, integer attributes whose non-default values segc does not
    /// implement (rather than ignoring them and computing something else).
    func refuseNonDefault(_ names: [(String, Int)]) throws(SegcError) {
        for (k, d) in names {
            let v = try attrInt(k, d)
            if v != d { throw unsupported("\(node.opType) \(k)=\(v)") }
        }
    }

    /// Normalises an axis against `rank`.
    func axis(_ a: Int, rank: Int) throws(SegcError) -> Int {
        let r = a < 0 ? a + rank : a
        if r < 0 || r >= rank { throw malformed("axis \(a) out of range for rank \(rank)") }
        return r
    }
}
