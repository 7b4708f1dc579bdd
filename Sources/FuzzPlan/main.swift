// Fuzz target for the verifying plan reader and the runtime's plan validation:
// PlanReader.read, then SegcModel(plan:) (weights prepared, no inference) and, for
// an int8 plan with value grids, its float twin; and the decoder of the optional
// `STAT` section (SegcQuantize) whenever the frame verifies, with the minmax and
// percentile grids of its histograms. Each on the input as
// given and again with its checksums recomputed.
//
// The libFuzzer / replay driver is FuzzSupport's `runFuzzTarget`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore
import FuzzSupport
import SegcPlan
import SegcRuntime
import SegcQuantize

let crc32cTable: [UInt32] = (0..<256).map { i -> UInt32 in
    var c = UInt32(i)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
    return c
}

/// CRC32C (Docs/PlanFormat.md §4) of `b[from..<from+count]`.
func crc32c(_ b: [UInt8], _ from: Int, _ count: Int) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for i in from..<(from + count) { c = crc32cTable[Int((c ^ UInt32(b[i])) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

func le(_ b: [UInt8], _ at: Int, _ n: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<n { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
    return v
}

func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
    for i in 0..<4 { b[at + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) }
}

/// The input with every checksum the reader checks recomputed (each section's
/// CRC where the section lies inside the bytes, then the table's, then the
/// header's), or nil when nothing changes. Mutated plans almost always fail
/// step 7 of the verification order; this lets the fuzzer reach the parsers,
/// the verifier and the runtime's validation behind the checksums.
func withFixedChecksums(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8]? {
    guard size >= 64 else { return nil }
    var b = Array(UnsafeBufferPointer(start: data, count: size))
    guard b[0..<8].elementsEqual("SEGCPLAN".utf8) else { return nil }
    let count = Int(min(le(b, 24, 4), 256))
    let tableEnd = 64 + 32 * count
    if tableEnd <= size {
        for i in 0..<count {
            let e = 64 + 32 * i
            let off = le(b, e + 8, 8), len = le(b, e + 16, 8)
            if off <= UInt64(size), len <= UInt64(size) - off {
                put32(&b, e + 24, crc32c(b, Int(off), Int(len)))
            }
        }
        put32(&b, 40, crc32c(b, 64, 32 * count))
    }
    put32(&b, 60, crc32c(b, 0, 60))
    return b.elementsEqual(UnsafeBufferPointer(start: data, count: size)) ? nil : b
}

func readAndPrepare(_ fb: FileBytes) {
    do throws(SegcError) {
        let plan = try PlanReader.read(fb)
        let model = try SegcModel(plan: plan)
        if model.hasFloatTwin { _ = try? model.floatTwin() }
    } catch {
        _ = error
    }
    // STAT is read by `segc quantize --stats` only, outside PlanReader: decode it
    // whenever the frame (steps 1-8, its checksum included) verifies.
    do throws(SegcError) {
        if let e = try PlanReader.sections(fb).first(where: { $0.tag == StatSection.tag }) {
            let stat = try StatSection.decode(Array(UnsafeRawBufferPointer(start: fb.base + e.offset, count: e.length)))
            // The grids `segc quantize --stats` derives (the cheap methods; entropy and mse
            // search per bin), widened by the largest --headroom.
            for h in stat.histograms.values {
                for m in [CalibrationMethod.minmax, .percentile(99.99)] { _ = m.params(h).widened(by: 16) }
            }
        }
    } catch {
        _ = error
    }
}

/// Feeds one input to the reader: the bytes as given, then (when it differs) the
/// same bytes with their checksums recomputed. Thrown `SegcError`s are the
/// expected outcome for hostile bytes; any crash, hang or leak is a finding.
/// Exported as `LLVMFuzzerTestOneInput` only in the libFuzzer build (the test
/// bundle links every executable module, where the C symbol would clash).
#if SEGC_FUZZ
@_cdecl("LLVMFuzzerTestOneInput")
#endif
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    readAndPrepare(FileBytes(bytes: UnsafeBufferPointer(start: data, count: size), name: "fuzz.segc"))
    if let fixed = withFixedChecksums(data, size) {
        readAndPrepare(FileBytes(bytes: fixed, name: "fuzz.segc"))
    }
    return 0
}

runFuzzTarget { data, size in
    var empty: UInt8 = 0
    guard let data else { return fuzz(&empty, 0) }
    return fuzz(data, size)
}
