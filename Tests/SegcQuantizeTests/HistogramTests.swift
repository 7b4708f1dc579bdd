import XCTest
import SegcCore
import SegcQuantize

final class HistogramTests: XCTestCase {
    func testMinMaxAndQuantiles() {
        var h = Histogram(lo: 0, hi: 10, bins: 1000)
        let v = (0..<10_000).map { Float($0) / 1000 }   // uniform on [0, 10)
        v.withUnsafeBufferPointer { h.add($0) }
        XCTAssertEqual(h.total, 10_000)
        XCTAssertEqual(h.min, 0)
        XCTAssertEqual(h.max, 9.999)
        XCTAssertEqual(h.quantile(0.5), 5, accuracy: 0.02)
        XCTAssertEqual(h.quantile(0.99), 9.9, accuracy: 0.02)
        let p = CalibrationMethod.minmax.params(h)
        XCTAssertEqual(p.zeroPoint, 0)
        XCTAssertEqual(p.scale, 9.999 / 255, accuracy: 1e-6)
    }

    func testValuesOutsideTheRangeLandInTheEdgeBinsAndKeepExactExtremes() {
        var h = Histogram(lo: -1, hi: 1, bins: 8)
        [Float(-5), 0.1, 7, .nan].withUnsafeBufferPointer { h.add($0) }
        XCTAssertEqual(h.counts.first, 1)
        XCTAssertEqual(h.counts.last, 1)
        XCTAssertEqual(h.total, 3, "NaN is not counted")
        XCTAssertEqual(h.min, -5)
        XCTAssertEqual(h.max, 7)
    }

    /// `--headroom`: the widened grid keeps zero exact, scales the range, and no longer
    /// clips a value up to that factor beyond the calibrated maximum.
    func testWidenedGridKeepsZeroAndStopsClipping() {
        let relu = QuantParams(lo: 0, hi: 2.55)
        XCTAssertEqual(relu.widened(by: 1), relu)
        let w = relu.widened(by: 2)
        XCTAssertEqual(w.zeroPoint, 0)
        XCTAssertEqual(w.hi, 5.1, accuracy: 1e-5)
        XCTAssertEqual(w.scale, 2 * relu.scale, accuracy: 1e-7)
        func q(_ p: QuantParams, _ x: Float) -> Float {   // quantize, dequantize
            Float(Swift.min(Swift.max(Int((x / p.scale).rounded(.toNearestOrEven)) + p.zeroPoint, 0), 255) - p.zeroPoint) * p.scale
        }
        XCTAssertEqual(q(relu, 4.5), 2.55, accuracy: 1e-5)   // clipped at the calibrated max
        XCTAssertEqual(q(w, 4.5), 4.5, accuracy: w.scale / 2)
        let signed = QuantParams(lo: -1, hi: 3).widened(by: 1.5)
        XCTAssertEqual(signed.lo, -1.5, accuracy: 2 * signed.scale)
        XCTAssertEqual(signed.hi, 4.5, accuracy: 2 * signed.scale)
        XCTAssertEqual(Float(0 - signed.zeroPoint) * signed.scale + Float(signed.zeroPoint) * signed.scale, 0)
    }

    func testGridAlwaysRepresentsZero() {
        let p = QuantParams(lo: 2, hi: 6)        // all positive: widened to [0, 6]
        XCTAssertEqual(p.zeroPoint, 0)
        let q = QuantParams(lo: -3, hi: -1)      // all negative: widened to [-3, 0]
        XCTAssertEqual(q.zeroPoint, 255)
        let r = QuantParams(lo: -1, hi: 3)
        XCTAssertEqual(r.lo, -1, accuracy: r.scale)
        XCTAssertEqual(r.hi, 3, accuracy: r.scale)
        let z = QuantParams(lo: 0, hi: 0)        // constant zero: a valid grid
        XCTAssertGreaterThan(z.scale, 0)
    }

    func testPercentileAndEntropyClipRareOutliersThatMinmaxKeeps() {
        // ReLU-like activations: most mass in [0, 30], a few huge outliers. (The entropy
        // search clips at 255 bins or more, an eighth of the histogram at the least.)
        var h = Histogram(lo: 0, hi: 100, bins: 2048)
        var v: [Float] = (0..<200_000).map { Float($0 % 1000) * 0.03 }
        v += [Float](repeating: 100, count: 3)
        v.withUnsafeBufferPointer { h.add($0) }
        let mm = CalibrationMethod.minmax.params(h)
        let pc = CalibrationMethod.percentile(99.99).params(h)
        let en = CalibrationMethod.entropy.params(h)
        XCTAssertEqual(mm.hi, 100, accuracy: 0.5)
        XCTAssertLessThan(pc.hi, 31)
        XCTAssertLessThan(en.hi, 40)
        XCTAssertGreaterThan(en.hi, 25, "entropy must not clip the bulk of the distribution")
    }

    func testStatSectionRoundTripsAndRefusesDamage() throws {
        var h = Histogram(lo: -2, hi: 2, bins: 2048)
        let v: [Float] = (0..<5000).map { sin(Float($0)) * 1.5 }
        v.withUnsafeBufferPointer { h.add($0) }
        h.counts[5] = 1 << 40   // a count beyond 32 bits
        var cal = Calibration(histograms: [3: h, 7: h], images: 5, argmax: [])
        cal.channelMeans = [7: [0.5, -1.25, 3e-3]]
        let bytes = StatSection.encode(cal, sourceGraph: 0xABCD)
        let back = try StatSection.decode(bytes)
        XCTAssertEqual(back.images, 5)
        XCTAssertEqual(back.sourceGraph, 0xABCD)
        XCTAssertEqual(Set(back.histograms.keys), [3, 7])
        // Whole and exact: every method gives the grid it gives on the calibration's histogram.
        let b = back.histograms[3]!
        XCTAssertEqual(b.counts, h.counts)
        XCTAssertEqual([b.lo, b.hi, b.min, b.max], [h.lo, h.hi, h.min, h.max])
        XCTAssertLessThan(bytes.count, 2 * 2048 * 2, "the empty bins' runs are compressed")
        XCTAssertEqual(back.channelMeans[7]!, [0.5, -1.25, Double(Float(3e-3))])
        XCTAssertThrowsError(try StatSection.decode(Array(bytes.dropLast())))
        XCTAssertThrowsError(try StatSection.decode(Array(bytes.dropLast(4))))
        XCTAssertThrowsError(try StatSection.decode(bytes + [0]))
        var nan = bytes
        nan.replaceSubrange((bytes.count - 4)..<bytes.count, with: [0, 0, 0xC0, 0x7F])   // a NaN mean
        XCTAssertThrowsError(try StatSection.decode(nan))
        // A zero run longer than the bins left, and counts that end early, are refused.
        XCTAssertNil(StatSection.decodeCounts([0, 9][...], bins: 4))
        XCTAssertNil(StatSection.decodeCounts([1, 2][...], bins: 4))
        XCTAssertEqual(StatSection.decodeCounts([1, 0, 2][...], bins: 4), [1, 0, 0, 0])
        XCTAssertNil(StatSection.decodeCounts([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F][...], bins: 1))

        // Version 1 (rebinned, relative u16 counts, no means) still reads.
        var v1: [UInt8] = []
        func u32(_ x: UInt32) { withUnsafeBytes(of: x.littleEndian) { v1.append(contentsOf: $0) } }
        u32(1); u32(5); u32(0xABCD); u32(1)
        u32(3); u32(Float(-2).bitPattern); u32(Float(2).bitPattern); u32(Float(-1.5).bitPattern); u32(Float(1.5).bitPattern); u32(2)
        v1 += [0xFF, 0xFF, 0x01, 0x00]
        let old = try StatSection.decode(v1)
        XCTAssertEqual(old.histograms[3]!.counts, [65535, 1])
        XCTAssertTrue(old.channelMeans.isEmpty)
        XCTAssertThrowsError(try StatSection.decode(v1 + [0, 0, 0, 0]))
    }

    /// Damaged STAT sections (random bytes changed, truncated) are refused or read, never a
    /// crash: every length, run and varint is checked.
    func testDamagedStatSectionsNeverCrash() {
        var h = Histogram(lo: -1, hi: 3, bins: 2048)
        let v: [Float] = (0..<3000).map { cos(Float($0)) + 0.5 }
        v.withUnsafeBufferPointer { h.add($0) }
        var cal = Calibration(histograms: [1: h, 4: h], images: 2, argmax: [])
        cal.channelMeans = [4: [0.25, 0.5]]
        let good = StatSection.encode(cal, sourceGraph: 9)
        var seed: UInt64 = 5
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33) % n
        }
        var refused = 0
        for _ in 0..<3000 {
            var b = good
            for _ in 0..<(1 + next(4)) { b[next(b.count)] = UInt8(next(256)) }
            if next(4) == 0 { b = Array(b.prefix(next(b.count))) }
            do { _ = try StatSection.decode(b) } catch { refused += 1 }
        }
        XCTAssertGreaterThan(refused, 100)
    }

    /// A stored histogram whose bins have no finite, positive width (hi − lo underflows to 0
    /// over the bins, or overflows to infinity) is refused when read: the range methods
    /// divide by the width and convert the result to Int (`entropy` trapped on Int(NaN) in
    /// `quantize --stats` with such a section, before any error could be reported).
    func testStatSectionRefusesHistogramsWithoutAFiniteBinWidth() throws {
        for (lo, hi) in [(Float(0), Float.leastNonzeroMagnitude), (-Float.leastNormalMagnitude / 64, (-Float.leastNormalMagnitude / 64).nextUp),
                         (-Float.greatestFiniteMagnitude, Float.greatestFiniteMagnitude)] {
            var h = Histogram(lo: lo, hi: hi, bins: 2048)
            h.counts[0] = 3
            h.min = lo; h.max = lo
            let bytes = StatSection.encode(Calibration(histograms: [0: h], images: 1, argmax: []), sourceGraph: 1)
            XCTAssertThrowsError(try StatSection.decode(bytes), "lo \(lo), hi \(hi)") { e in
                XCTAssertTrue("\(e)".contains("histogram of value 0 is malformed"), "\(e)")
            }
        }
        // Extremes whose span overflows float32 (the grid's scale would be infinite).
        var wide = Histogram(lo: -1, hi: 1, bins: 2048)
        wide.counts[0] = 1
        wide.min = -Float.greatestFiniteMagnitude; wide.max = Float.greatestFiniteMagnitude
        XCTAssertThrowsError(try StatSection.decode(StatSection.encode(Calibration(histograms: [0: wide], images: 1, argmax: []), sourceGraph: 1)))
        // The narrowest range a real calibration makes still reads.
        var h = Histogram(lo: 0, hi: 1e-6, bins: 2048)
        h.counts[0] = 1
        h.min = 0; h.max = 0
        XCTAssertNoThrow(try StatSection.decode(StatSection.encode(Calibration(histograms: [0: h], images: 1, argmax: []), sourceGraph: 1)))
    }

    /// Zero runs make a bin cost a fraction of a byte: 4 bytes hold a histogram of 65536 empty
    /// bins, 512 KiB once read. A section of such histograms (4000 in a 217 KB plan made
    /// `quantize --stats` allocate 2 GB before any check; the 2^20 the count allows, 512 GiB)
    /// is refused once its bins pass `StatSection.maxTotalBins`, before they are allocated.
    func testStatSectionBoundsTheBinsItExpands() throws {
        func section(histograms: Int) -> [UInt8] {
            var out: [UInt8] = []
            func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
            u32(2); u32(1); u32(9); u32(UInt32(histograms))
            for v in 0..<histograms {
                u32(UInt32(v)); u32(Float(0).bitPattern); u32(Float(1).bitPattern); u32(Float(0).bitPattern); u32(Float(0).bitPattern)
                u32(65536); u32(4); out += [0, 0xFF, 0xFF, 0x03]   // one zero, then 65535 more
            }
            u32(0)
            return out
        }
        XCTAssertEqual(try StatSection.decode(section(histograms: 2)).histograms.count, 2)
        // 257 × 65536 bins: just past 2^24.
        XCTAssertThrowsError(try StatSection.decode(section(histograms: 257))) { e in
            XCTAssertTrue("\(e)".contains("exceed the limit of 16777216"), "\(e)")
        }
    }

    /// The entropy method on a histogram whose bin width underflows to 0 (a range of one
    /// denormal over 65536 bins): the zero bin's index was Int(NaN), a trap; it clamps now.
    func testEntropyOnADegenerateBinWidthDoesNotTrap() {
        var h = Histogram(lo: 0, hi: .leastNonzeroMagnitude, bins: 1 << 16)
        XCTAssertEqual(h.binWidth, 0)
        h.counts[0] = 5; h.counts[9] = 1
        h.min = 0; h.max = .leastNonzeroMagnitude
        let p = CalibrationMethod.entropy.params(h)
        XCTAssertFalse(p.lo.isNaN)
    }

    /// Grids from the extreme finite ranges a STAT section may hold, widened by the largest
    /// --headroom (16): the range overflowed to infinity, the scale with it, and the zero
    /// point was Int(NaN), a trap. The scale stays finite and positive now.
    func testGridsOfExtremeRangesStayFinite() {
        for (lo, hi) in [(-Float.greatestFiniteMagnitude, Float.greatestFiniteMagnitude), (-3e38, 1), (0, 3e38), (-3e38, -1e38)] {
            for f: Float in [1, 16] {
                let p = QuantParams(lo: lo, hi: hi).widened(by: f)
                XCTAssertTrue(p.scale.isFinite && p.scale > 0, "\(lo) \(hi) x\(f): \(p)")
                XCTAssertTrue((0...255).contains(p.zeroPoint), "\(lo) \(hi) x\(f): \(p)")
            }
        }
    }

    func testWeightsArePerOutputChannelSymmetric() {
        let w: [Float] = [0.5, -1, 0.25, 0.1, /* channel 1 */ 2, -2, 1, 0]
        let q = QuantizedWeights.conv(w, shape: [2, 4, 1, 1])
        XCTAssertEqual(q.scales[0], 1.0 / 127, accuracy: 1e-9)
        XCTAssertEqual(q.scales[1], 2.0 / 127, accuracy: 1e-9)
        XCTAssertEqual(Array(q.values[0..<4]), [64, -127, 32, 13])
        XCTAssertEqual(Array(q.values[4..<8]), [127, -127, 64, 0])
        // Transposed [cin 2, cout 2, 1, 1]: output channel j is the second axis.
        let t = QuantizedWeights.convTranspose([1, 4, -2, 0.5], shape: [2, 2, 1, 1], groups: 1)
        XCTAssertEqual(t.scales[0], 2.0 / 127, accuracy: 1e-9)
        XCTAssertEqual(t.scales[1], 4.0 / 127, accuracy: 1e-9)
    }
}
