/// Liveness-based activation arena (architecture.md §3, Lowering): every
/// activation value gets a byte offset; two values share bytes only if their
/// lifetimes do not intersect. Greedy first-fit over values sorted by size
/// (largest first, ties by definition order), which is deterministic and
/// close to optimal for these chain-like networks.
package enum ArenaPlanner {
    package struct Interval: Sendable {
        package var bytes: Int
        /// First and last op index at which the value is live (inclusive).
        package var first: Int
        package var last: Int
        package init(bytes: Int, first: Int, last: Int) { self.bytes = bytes; self.first = first; self.last = last }
    }

    package static let alignment = 64

    /// Returns one offset per interval and the arena size.
    package static func plan(_ intervals: [Interval]) -> (offsets: [Int], size: Int) {
        let order = intervals.indices.sorted {
            let a = intervals[$0], b = intervals[$1]
            return a.bytes != b.bytes ? a.bytes > b.bytes : $0 < $1
        }
        var placed: [(offset: Int, end: Int, first: Int, last: Int)] = []
        var offsets = [Int](repeating: 0, count: intervals.count)
        var size = 0
        for i in order {
            let v = intervals[i]
            let bytes = (v.bytes + alignment - 1) / alignment * alignment
            // Busy ranges of values alive at the same time, by offset.
            let busy = placed.filter { $0.first <= v.last && v.first <= $0.last }.sorted { $0.offset < $1.offset }
            var candidate = 0
            for b in busy {
                if candidate + bytes <= b.offset { break }
                candidate = max(candidate, b.end)
            }
            offsets[i] = candidate
            placed.append((candidate, candidate + bytes, v.first, v.last))
            size = max(size, candidate + bytes)
        }
        return (offsets, size)
    }

    /// Liveness of plan values in op order: the first op that writes each value and the last
    /// that reads it. The graph input is live from op 0, the `toEnd` values (graph outputs)
    /// to the end of the run; a value no op touches gets [0, 0].
    package static func liveness(values: Int, ops: [PlanOp], input: Int, toEnd: [Int]) -> (first: [Int], last: [Int]) {
        var first = [Int](repeating: Int.max, count: values), last = [Int](repeating: -1, count: values)
        first[input] = 0; last[input] = 0
        for (k, op) in ops.enumerated() {
            for v in op.outputs { first[v] = min(first[v], k); last[v] = max(last[v], k) }
            for v in op.inputs { last[v] = max(last[v], k) }
        }
        for v in toEnd { last[v] = ops.count }
        for v in 0..<values where first[v] == Int.max { first[v] = 0; last[v] = max(last[v], 0) }
        return (first, last)
    }

    /// Sets every value's arena offset from its lifetime [first, last]; returns the arena size.
    package static func place(_ values: inout [PlanValue], first: [Int], last: [Int]) -> Int {
        let (offsets, size) = plan(values.indices.map { Interval(bytes: values[$0].byteCount, first: first[$0], last: last[$0]) })
        for i in values.indices { values[i].arenaOffset = offsets[i] }
        return size
    }
}
