import CSegcKernels
import SegcPlan

/// The range guard of an int8 plan: for each uint8 tensor, how many codes a frame may
/// saturate at 255 before its int8 answer counts as clipped (`SegcSession.checksRange`).
///
/// Why: the int8 grids come from the calibration images, and every range method clips what
/// lies beyond them. In anomaly segmentation the frames that go beyond are the ones that
/// matter: on RoadAnomaly21, ERFNet's anomalies drive its first dilation-16 block far past
/// anything fs_static gave it, the grid clips them and the MaxLogit AuPRC falls 3.25 points.
/// No grid choice fixes that without losing resolution everywhere (`--headroom`, session 8);
/// the guard instead tells the caller, frame by frame, when to trust the int8 answer.
///
/// The limit is `factor` × the most any calibration image saturated, plus `floor` × the
/// tensor's elements (so a tensor no calibration image saturated does not trip on a few
/// codes). Measured on ERFNet's default plan (fs_static calibration, Docs/Notes.md session
/// 13): with factor 3 and floor 1e-5, 9 of RoadAnomaly21's 10 frames trip and none of the 4
/// Cityscapes frames; each fs_static image left out of the maxima trips on 1 of 30.
package enum RangeGuard {
    package static let factor = 3
    package static let floor = 1e-5

    /// Codes at 255 in `bytes`.
    package static func saturated(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        Int(segc_count_u8(nil, Int64(bytes.count), 255, bytes.baseAddress))
    }

    /// Limits for every uint8 op output of `plan`, from the calibration maxima (plan op → the
    /// most codes one image saturated).
    package static func limits(_ maxima: [Int: Int], plan: PlanFile) -> [PlanRangeLimit] {
        let g = plan.graph
        return maxima.keys.sorted().compactMap { op in
            guard op < g.ops.count, let v = g.ops[op].outputs.first, g.values[v].dtype == .u8, let m = maxima[op] else { return nil }
            let elements = Double(g.values[v].elementCount)
            return PlanRangeLimit(op: op, max: m, limit: factor * m + Int((floor * elements).rounded(.up)))
        }
    }
}
