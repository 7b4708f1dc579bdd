import SegcCore
import SegcPlan

/// The optional `STAT` section of a quantized plan: the calibration histograms, so
/// another method can be applied without running the calibration images again
/// (`segc quantize PLAN --stats OLD.int8.segc --method …`). Layout (little-endian):
///
/// ```
/// u32 version (1)   u32 images   u32 source GRPH CRC32C   u32 count
/// count × { u32 source value index, f32 lo, f32 hi, f32 min, f32 max, u32 bins,
///           bins × u16 counts scaled so the largest is 65535 }
/// ```
///
/// Value indices refer to the fp32 plan that was calibrated, identified by the CRC32C
/// of its encoded graph. Counts are stored coarser (`storedBins`) and relative: the
/// methods need the shape of the distribution, not the totals.
package enum StatSection {
    package static let tag = "STAT"
    package static let storedBins = 256

    package static func graphID(_ plan: PlanFile) throws(SegcError) -> UInt32 {
        let bytes = try PlanGraphCodec.encode(plan.graph)
        return bytes.withUnsafeBytes { PlanChecksum.crc32c($0) }
    }

    package static func encode(_ cal: Calibration, sourceGraph: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func f32(_ v: Float) { u32(v.bitPattern) }
        u32(1); u32(UInt32(cal.images)); u32(sourceGraph); u32(UInt32(cal.histograms.count))
        for v in cal.histograms.keys.sorted() {
            let h = cal.histograms[v]!
            let coarse = h.counts.count % storedBins == 0 ? h.rebinned(storedBins) : h
            u32(UInt32(v)); f32(coarse.lo); f32(coarse.hi); f32(h.min); f32(h.max); u32(UInt32(coarse.counts.count))
            let peak = Double(coarse.counts.max() ?? 1)
            for c in coarse.counts {
                // Non-empty bins stay non-empty (entropy calibration cares).
                let s = peak > 0 ? (Double(c) / peak * 65535).rounded() : 0
                let k = UInt16(c > 0 ? max(1, s) : 0)
                withUnsafeBytes(of: k.littleEndian) { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    /// The histograms stored in the plan file `bytes` (verified first), checked to come from
    /// the fp32 plan `source`.
    package static func histograms(in bytes: FileBytes, for source: PlanFile) throws(SegcError) -> [Int: Histogram] {
        let plan = try PlanReader.read(bytes)   // every checksum and rule, STAT's CRC included
        if case .object(let q)? = plan.metadata.quantization, let eq = q["equalization"], eq != .null {
            // Same graph, other weights: the histograms are of the equalized activations.
            throw SegcError(.mismatch, "its histograms were taken on a channel-equalized plan (--equalize)", file: bytes.name)
        }
        guard let e = try PlanReader.sections(bytes).first(where: { $0.tag == tag }) else {
            throw SegcError(.unsupported, "no STAT section (only plans written by `segc quantize` have one)", file: bytes.name)
        }
        let raw = Array(UnsafeRawBufferPointer(start: bytes.base + e.offset, count: e.length))
        let stat: (images: Int, sourceGraph: UInt32, histograms: [Int: Histogram])
        do throws(SegcError) { stat = try decode(raw) } catch { throw error.inFile(bytes.name) }
        if stat.sourceGraph != (try graphID(source)) {
            throw SegcError(.mismatch, "its histograms were taken on another fp32 plan", file: bytes.name)
        }
        let g = source.graph
        for v in stat.histograms.keys where v < 0 || v >= g.values.count || g.values[v].dtype != .f32 {
            throw SegcError(.malformed, "histogram of value \(v), which the fp32 plan has no float activation for", file: bytes.name)
        }
        return stat.histograms
    }

    /// Reads a `STAT` section; every length is checked. Returns (images, source graph id, histograms).
    package static func decode(_ bytes: [UInt8]) throws(SegcError) -> (images: Int, sourceGraph: UInt32, histograms: [Int: Histogram]) {
        var p = 0
        func fail(_ m: String) -> SegcError { SegcError(.malformed, m, at: .section(tag)) }
        func u32() throws(SegcError) -> UInt32 {
            guard p + 4 <= bytes.count else { throw fail("truncated at byte \(p)") }
            let v = UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
            p += 4
            return v
        }
        func f32() throws(SegcError) -> Float { Float(bitPattern: try u32()) }
        guard try u32() == 1 else { throw fail("unknown STAT version") }
        let images = Int(try u32()), source = try u32(), count = Int(try u32())
        if count > 1 << 20 { throw fail("\(count) histograms") }
        var hist: [Int: Histogram] = [:]
        for _ in 0..<count {
            let v = Int(try u32())
            let lo = try f32(), hi = try f32(), mn = try f32(), mx = try f32()
            let bins = Int(try u32())
            guard bins > 0, bins <= 1 << 16, lo.isFinite, hi.isFinite, hi > lo, mn.isFinite, mx.isFinite, mn <= mx else {
                throw fail("histogram of value \(v) is malformed")
            }
            guard p + 2 * bins <= bytes.count else { throw fail("truncated histogram of value \(v)") }
            var h = Histogram(lo: lo, hi: hi, bins: bins)
            for i in 0..<bins { h.counts[i] = UInt64(bytes[p + 2 * i]) | UInt64(bytes[p + 2 * i + 1]) << 8 }
            p += 2 * bins
            h.min = mn; h.max = mx
            if hist.updateValue(h, forKey: v) != nil { throw fail("value \(v) twice") }
        }
        if p != bytes.count { throw fail("\(bytes.count - p) trailing bytes") }
        return (images, source, hist)
    }
}
