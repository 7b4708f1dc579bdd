import SegcPlan

extension PlanValue {
    /// Whether the arena bytes of `self` and `other` intersect (what a kernel that reads
    /// one while writing the other has to rule out, or allow only as the same slot).
    func overlaps(_ other: PlanValue) -> Bool {
        arenaOffset < other.arenaOffset + other.byteCount && other.arenaOffset < arenaOffset + byteCount
    }
}
