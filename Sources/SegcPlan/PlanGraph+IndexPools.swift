/// Which ops feed an index-returning max pool.
///
/// ENet's max pools return the index of each window's maximum, and its windows hold
/// exact ties between pixels whose input patches are equal. Any op upstream of such a
/// pool must compute those pixels bit-identically wherever they sit, or an unpool later
/// moves a value to another pixel (an O(1) logit error). Lowering marks the convolutions
/// in this set `PlanAlgorithm.exact`; tests check that it did.
extension PlanGraph {
    /// Indices of the ops from which some `maxPool2d` with `returnsIndices` is reachable
    /// (a pool is in the set only when it feeds another one).
    package var opsFeedingIndexPools: Set<Int> {
        var producer: [Int: Int] = [:]
        for (i, op) in ops.enumerated() { for v in op.outputs { producer[v] = i } }
        var seen = Set<Int>()
        var stack: [Int] = []
        for (i, op) in ops.enumerated() where op.kind == .maxPool2d && op.ints.count > 11 && op.ints[11] != 0 {
            stack.append(i)
        }
        while let i = stack.popLast() {
            for v in ops[i].inputs {
                if let p = producer[v], !seen.contains(p) { seen.insert(p); stack.append(p) }
            }
        }
        return seen
    }
}
