import SegcIR

/// Small helpers the passes share: use counts, value replacement and compaction.
extension Graph {
    /// How many node inputs (plus graph outputs) read each value.
    package func useCounts() -> [Int] {
        var uses = [Int](repeating: 0, count: values.count)
        for n in nodes { for v in n.inputs { uses[v.index] += 1 } }
        for v in outputs { uses[v.index] += 1 }
        return uses
    }

    /// Index of the node that defines each value (nil for inputs and constants).
    package func producers() -> [Int?] {
        var p = [Int?](repeating: nil, count: values.count)
        for (i, n) in nodes.enumerated() { for v in n.outputs { p[v.index] = i } }
        return p
    }

    /// Rewrites every read of `old` into a read of `new`.
    package mutating func replaceUses(of old: ValueID, with new: ValueID) {
        for i in nodes.indices {
            for j in nodes[i].inputs.indices where nodes[i].inputs[j] == old { nodes[i].inputs[j] = new }
        }
        for j in outputs.indices where outputs[j] == old { outputs[j] = new }
    }

    /// Removes nodes whose outputs nobody reads (iterated to a fixed point),
    /// then drops unreferenced values and constants and renumbers the rest in
    /// first-use order, so the graph stays dense and deterministic.
    package mutating func eliminateDeadCode() {
        var changed = true
        while changed {
            changed = false
            let uses = useCounts()
            let before = nodes.count
            nodes.removeAll { n in n.outputs.allSatisfy { uses[$0.index] == 0 } }
            changed = nodes.count != before
        }
        compact()
    }

    package mutating func compact() {
        var map = [Int?](repeating: nil, count: values.count)
        var newValues: [Value] = []
        func remap(_ v: ValueID) -> ValueID {
            if let m = map[v.index] { return ValueID(m) }
            map[v.index] = newValues.count
            newValues.append(values[v.index])
            return ValueID(newValues.count - 1)
        }
        let newInputs = inputs.map(remap)
        var newNodes = nodes
        for i in newNodes.indices {
            newNodes[i].inputs = newNodes[i].inputs.map(remap)
            newNodes[i].outputs = newNodes[i].outputs.map(remap)
        }
        let newOutputs = outputs.map(remap)
        var newConstants: [ValueID: Tensor] = [:]
        for (k, t) in constants { if let m = map[k.index] { newConstants[ValueID(m)] = t } }
        values = newValues; inputs = newInputs; nodes = newNodes; outputs = newOutputs; constants = newConstants
    }
}
