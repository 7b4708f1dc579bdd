import SegcCore
import SegcIR

/// `concat(x, c)` or `concat(c, x)` where `c` is a constant filled with one value
/// → `pad(x)` with that value. ONNX exports write ENet's zero-padded shortcut this
/// way (a zeros initializer concatenated on the channel axis); a pad needs no weight
/// and runs as one copy.
package struct ConcatConstantToPad: GraphPass {
    package let name = "concat-constant-to-pad"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        for i in graph.nodes.indices {
            guard case .concat(let axis) = graph.nodes[i].op, graph.nodes[i].inputs.count == 2 else { continue }
            let ins = graph.nodes[i].inputs
            let constSide: Int
            if graph.isConstant(ins[1]) && !graph.isConstant(ins[0]) { constSide = 1 }
            else if graph.isConstant(ins[0]) && !graph.isConstant(ins[1]) { constSide = 0 }
            else { continue }
            guard let c = graph.constants[ins[constSide]] else { continue }
            let values = c.floats()
            guard let first = values.first, values.allSatisfy({ $0 == first || ($0.isNaN && first.isNaN) }), !first.isNaN else { continue }
            let x = ins[1 - constSide]
            let rank = graph.type(of: x).shape.count
            var pads = [Int](repeating: 0, count: 2 * rank)
            pads[constSide == 1 ? rank + axis : axis] = c.shape[axis]
            graph.nodes[i].op = .pad(Pad(pads: pads, value: first))
            graph.nodes[i].inputs = [x]
        }
        graph.eliminateDeadCode()
    }
}
