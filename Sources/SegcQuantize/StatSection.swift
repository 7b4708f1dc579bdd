import SegcCore
import SegcPlan

/// The optional `STAT` section of a quantized plan: the calibration histograms and the conv
/// inputs' channel means, so another method (or the same one with other fp32 layers) can be
/// applied without running the calibration images again (`segc quantize PLAN --stats
/// OLD.int8.segc --method …`). Layout of version 2 (little-endian):
///
/// ```
/// u32 version (2)   u32 images   u32 source GRPH CRC32C   u32 count
/// count × { u32 source value index, f32 lo, f32 hi, f32 min, f32 max, u32 bins, u32 bytes,
///           `bytes` bytes: the bins' exact counts as LEB128 varints, each 0 followed by a
///           varint count of the further zeros after it }
/// u32 means
/// means × { u32 source value index, u32 channels, channels × f32 mean }
/// ```
///
/// Value indices refer to the fp32 plan that was calibrated, identified by the CRC32C
/// of its encoded graph. The histograms are stored whole and exact, so a method applied to
/// them gives the grids it gives during calibration; the means let bias correction run
/// without images. Version 1 (histograms rebinned to 256 bins, counts relative to the peak
/// as u16, no means) still reads, but made worse plans: MiDE-Net's worst Cityscapes frame
/// 95.07 % from the images, 92.96 % from its STAT with the same fp32 layers.
package enum StatSection {
    package static let tag = "STAT"
    /// Bins of a version-1 section.
    package static let version1Bins = 256
    /// The most bins the histograms of one section may hold together (8 bytes each in
    /// memory: 128 MiB). `segc quantize` writes 2048 per float activation, so this is 8192
    /// activations (MiDE-Net's plan has 28 histograms).
    package static let maxTotalBins = 1 << 24

    package static func graphID(_ plan: PlanFile) throws(SegcError) -> UInt32 {
        let bytes = try PlanGraphCodec.encode(plan.graph)
        return bytes.withUnsafeBytes { PlanChecksum.crc32c($0) }
    }

    package static func encode(_ cal: Calibration, sourceGraph: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func f32(_ v: Float) { u32(v.bitPattern) }
        u32(2); u32(UInt32(cal.images)); u32(sourceGraph); u32(UInt32(cal.histograms.count))
        for v in cal.histograms.keys.sorted() {
            let h = cal.histograms[v]!
            let counts = encodeCounts(h.counts)
            u32(UInt32(v)); f32(h.lo); f32(h.hi); f32(h.min); f32(h.max); u32(UInt32(h.counts.count)); u32(UInt32(counts.count))
            out += counts
        }
        u32(UInt32(cal.channelMeans.count))
        for v in cal.channelMeans.keys.sorted() {
            let m = cal.channelMeans[v]!
            u32(UInt32(v)); u32(UInt32(m.count))
            for x in m { f32(Float(x)) }
        }
        return out
    }

    /// Counts as LEB128 varints; a zero is followed by the number of zeros after it (the
    /// histograms' ranges are twice the first images' range, so long empty runs are common).
    package static func encodeCounts(_ counts: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        func varint(_ x: UInt64) {
            var x = x
            while x >= 0x80 { out.append(UInt8(x & 0x7F) | 0x80); x >>= 7 }
            out.append(UInt8(x))
        }
        var i = 0
        while i < counts.count {
            varint(counts[i])
            if counts[i] == 0 {
                var j = i + 1
                while j < counts.count && counts[j] == 0 { j += 1 }
                varint(UInt64(j - i - 1))
                i = j
            } else {
                i += 1
            }
        }
        return out
    }

    /// The inverse of `encodeCounts`: exactly `bins` counts from exactly `bytes`, or nil.
    package static func decodeCounts(_ bytes: ArraySlice<UInt8>, bins: Int) -> [UInt64]? {
        var out: [UInt64] = []
        out.reserveCapacity(bins)
        var p = bytes.startIndex
        func varint() -> UInt64? {
            var x: UInt64 = 0, shift: UInt64 = 0
            while p < bytes.endIndex {
                let b = bytes[p]
                p += 1
                if shift == 63 && b > 1 { return nil }   // beyond 64 bits
                x |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return x }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }
        while out.count < bins {
            guard let c = varint() else { return nil }
            out.append(c)
            if c == 0 {
                guard let run = varint(), run <= UInt64(bins - out.count) else { return nil }
                out.append(contentsOf: repeatElement(0, count: Int(run)))
            }
        }
        return p == bytes.endIndex ? out : nil
    }

    /// What a `STAT` section gives back: the histograms and the conv inputs' channel means
    /// (empty from a version-1 section).
    package struct Stored: Sendable {
        package var histograms: [Int: Histogram]
        package var channelMeans: [Int: [Double]]
    }

    /// The histograms and channel means stored in the plan file `bytes` (verified first),
    /// checked to come from the fp32 plan `source`.
    package static func stored(in bytes: FileBytes, for source: PlanFile) throws(SegcError) -> Stored {
        let plan = try PlanReader.read(bytes)   // every checksum and rule, STAT's CRC included
        if case .object(let q)? = plan.metadata.quantization, let eq = q["equalization"], eq != .null {
            // Same graph, other weights: the histograms are of the equalized activations.
            throw SegcError(.mismatch, "its histograms were taken on a channel-equalized plan (--equalize)", file: bytes.name)
        }
        guard let e = try PlanReader.sections(bytes).first(where: { $0.tag == tag }) else {
            throw SegcError(.unsupported, "no STAT section (plans written by `segc quantize` have one, unless made with --no-stats)", file: bytes.name)
        }
        let raw = Array(UnsafeRawBufferPointer(start: bytes.base + e.offset, count: e.length))
        let stat: Decoded
        do throws(SegcError) { stat = try decode(raw) } catch { throw error.inFile(bytes.name) }
        if stat.sourceGraph != (try graphID(source)) {
            throw SegcError(.mismatch, "its histograms were taken on another fp32 plan", file: bytes.name)
        }
        let g = source.graph
        for v in stat.histograms.keys where v < 0 || v >= g.values.count || g.values[v].dtype != .f32 {
            throw SegcError(.malformed, "histogram of value \(v), which the fp32 plan has no float activation for", file: bytes.name)
        }
        for (v, m) in stat.channelMeans {
            guard v >= 0, v < g.values.count, g.values[v].dtype == .f32, g.values[v].shape.count == 4,
                  g.values[v].shape[1] == m.count else {
                throw SegcError(.malformed, "channel means of value \(v), which the fp32 plan has no conv input of \(m.count) channels for",
                                file: bytes.name)
            }
        }
        return Stored(histograms: stat.histograms, channelMeans: stat.channelMeans)
    }

    package typealias Decoded = (images: Int, sourceGraph: UInt32, histograms: [Int: Histogram], channelMeans: [Int: [Double]])

    /// Reads a `STAT` section (version 1 or 2); every length is checked.
    package static func decode(_ bytes: [UInt8]) throws(SegcError) -> Decoded {
        var p = 0
        func fail(_ m: String) -> SegcError { SegcError(.malformed, m, at: .section(tag)) }
        func u32() throws(SegcError) -> UInt32 {
            guard p + 4 <= bytes.count else { throw fail("truncated at byte \(p)") }
            let v = UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
            p += 4
            return v
        }
        func f32() throws(SegcError) -> Float { Float(bitPattern: try u32()) }
        let version = try u32()
        guard version == 1 || version == 2 else { throw fail("unknown STAT version \(version)") }
        let images = Int(try u32()), source = try u32(), count = Int(try u32())
        if count > 1 << 20 { throw fail("\(count) histograms") }
        var hist: [Int: Histogram] = [:]
        var totalBins = 0
        for _ in 0..<count {
            let v = Int(try u32())
            let lo = try f32(), hi = try f32(), mn = try f32(), mx = try f32()
            let bins = Int(try u32())
            // The bin width must be a positive finite float: the range methods divide by it.
            let width = (hi - lo) / Float(bins)
            guard bins > 0, bins <= 1 << 16, lo.isFinite, hi.isFinite, hi > lo, width.isFinite, width > 0,
                  mn.isFinite, mx.isFinite, mn <= mx else {
                throw fail("histogram of value \(v) is malformed")
            }
            // A zero and its run decode 4 bytes into up to 65536 counts (512 KiB): without a
            // bound on the bins of all histograms, a small hostile section asks for gigabytes.
            totalBins += bins
            if totalBins > maxTotalBins {
                throw SegcError(.limit, "histograms of more than \(maxTotalBins) bins in all", at: .section(tag))
            }
            var h = Histogram(lo: lo, hi: hi, bins: bins)
            if version == 1 {
                guard p + 2 * bins <= bytes.count else { throw fail("truncated histogram of value \(v)") }
                for i in 0..<bins { h.counts[i] = UInt64(bytes[p + 2 * i]) | UInt64(bytes[p + 2 * i + 1]) << 8 }
                p += 2 * bins
            } else {
                let n = Int(try u32())
                guard n <= bytes.count - p else { throw fail("truncated histogram of value \(v)") }
                guard let c = decodeCounts(bytes[p..<(p + n)], bins: bins) else { throw fail("histogram of value \(v): bad counts") }
                h.counts = c
                p += n
            }
            h.min = mn; h.max = mx
            if hist.updateValue(h, forKey: v) != nil { throw fail("value \(v) twice") }
        }
        var means: [Int: [Double]] = [:]
        if version == 2 {
            let n = Int(try u32())
            if n > 1 << 20 { throw fail("\(n) channel-mean vectors") }
            for _ in 0..<n {
                let v = Int(try u32()), c = Int(try u32())
                guard c > 0, c <= (bytes.count - p) / 4 else { throw fail("channel means of value \(v): \(c) channels") }
                var m = [Double](repeating: 0, count: c)
                for i in 0..<c {
                    let x = try f32()
                    guard x.isFinite else { throw fail("channel means of value \(v): not finite") }
                    m[i] = Double(x)
                }
                if means.updateValue(m, forKey: v) != nil { throw fail("channel means of value \(v) twice") }
            }
        }
        if p != bytes.count { throw fail("\(bytes.count - p) trailing bytes") }
        return (images, source, hist, means)
    }
}
