import SegcCore

/// Index of a value in `Graph.values` (SSA: defined once, by a node, a graph
/// input or a constant).
package struct ValueID: Hashable, Comparable, Sendable, CustomStringConvertible {
    package var index: Int
    package init(_ index: Int) { self.index = index }
    package static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
    package var description: String { "%\(index)" }
}

/// Type of a value: dtype and static shape (rank ≤ 8).
package struct ValueType: Hashable, Sendable, CustomStringConvertible {
    package var dtype: DType
    package var shape: [Int]
    package init(_ dtype: DType, _ shape: [Int]) { self.dtype = dtype; self.shape = shape }
    package var elementCount: Int { shape.reduce(1, *) }
    package var description: String { "\(dtype.rawValue)[\(shape.map(String.init).joined(separator: ","))]" }
}

package struct Value: Sendable, Hashable {
    /// Human name (state-dict key for weights, layer path for activations).
    package var name: String
    package var type: ValueType
    /// The uint8 grid a quantized source model puts this activation on (set by
    /// `QDQToGrids` from the model's own Q/DQ pairs or FX qparams). It lives on the value,
    /// not in a side table, because passes renumber values (`compact`) but carry them.
    package var grid: QuantizeDequantize?
    package init(name: String, type: ValueType, grid: QuantizeDequantize? = nil) {
        self.name = name; self.type = type; self.grid = grid
    }
}

package struct Node: Sendable, Hashable {
    /// Layer name (e.g. `encoder.layers.1.conv3x1_1`), used in errors and `--layers`.
    package var name: String
    package var op: Op
    package var inputs: [ValueID]
    package var outputs: [ValueID]
    package init(name: String, op: Op, inputs: [ValueID], outputs: [ValueID]) {
        self.name = name; self.op = op; self.inputs = inputs; self.outputs = outputs
    }
}

/// A network: values in SSA form, constants (weights) owned by the graph, and
/// nodes in topological order. `verify()` checks all invariants.
package struct Graph: Sendable {
    package var values: [Value] = []
    package var constants: [ValueID: Tensor] = [:]
    package var nodes: [Node] = []
    package var inputs: [ValueID] = []
    package var outputs: [ValueID] = []

    package init() {}

    package func type(of v: ValueID) -> ValueType { values[v.index].type }
    package func isConstant(_ v: ValueID) -> Bool { constants[v] != nil }

    /// Adds a graph input.
    @discardableResult
    package mutating func addInput(_ name: String, _ type: ValueType) -> ValueID {
        let id = ValueID(values.count)
        values.append(Value(name: name, type: type))
        inputs.append(id)
        return id
    }

    /// Adds a constant tensor (weight).
    @discardableResult
    package mutating func addConstant(_ name: String, _ tensor: Tensor) -> ValueID {
        let id = ValueID(values.count)
        values.append(Value(name: name, type: ValueType(tensor.dtype, tensor.shape)))
        constants[id] = tensor
        return id
    }

    /// Appends a node whose output types are inferred from its inputs
    /// (`ShapeInference`). Throws on inconsistent shapes.
    @discardableResult
    package mutating func add(_ op: Op, _ inputs: [ValueID], name: String) throws(SegcError) -> [ValueID] {
        let inTypes = inputs.map { type(of: $0) }
        let outTypes: [ValueType]
        do { outTypes = try ShapeInference.infer(op, inTypes) } catch { throw error.at(.node(name)) }
        var outs: [ValueID] = []
        for (i, t) in outTypes.enumerated() {
            let id = ValueID(values.count)
            values.append(Value(name: outTypes.count == 1 ? name : "\(name):\(i)", type: t))
            outs.append(id)
        }
        nodes.append(Node(name: name, op: op, inputs: inputs, outputs: outs))
        return outs
    }

    /// Single-output convenience.
    package mutating func add1(_ op: Op, _ inputs: [ValueID], name: String) throws(SegcError) -> ValueID {
        try add(op, inputs, name: name)[0]
    }
}

