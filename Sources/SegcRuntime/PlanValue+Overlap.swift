import SegcPlan

extension PlanValue {
    /// Whether the arena bytes of `self` and `other` intersect (what a kernel that reads
    /// one while writing the other has to rule out, or allow only as the same slot).
    func overlaps(_ other: PlanValue) -> Bool {
        arenaOffset < other.arenaOffset + other.byteCount && other.arenaOffset < arenaOffset + byteCount
    }

    /// Whether they intersect without being the same slot: an elementwise step that reads
    /// element k of one just before writing element k of the other may run in place, not on
    /// a shifted overlap.
    func overlapsShifted(_ other: PlanValue) -> Bool {
        overlaps(other) && !(arenaOffset == other.arenaOffset && byteCount == other.byteCount)
    }
}
