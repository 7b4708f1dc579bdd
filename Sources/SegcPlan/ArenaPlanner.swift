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
}
