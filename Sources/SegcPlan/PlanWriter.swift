import CSegcKernels
import SegcCore

/// CRC32C as used by plans (Docs/PlanFormat.md §4).
package enum PlanChecksum {
    package static func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return segc_crc32c(0, nil, 0) }
        return segc_crc32c(0, base, bytes.count)
    }

    package static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32c($0) }
    }

    /// `0x` and 8 lowercase hex digits.
    package static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}

/// Constants of the frame (Docs/PlanFormat.md §1–3).
package enum PlanFormat {
    package static let magic: [UInt8] = Array("SEGCPLAN".utf8)
    package static let majorVersion: UInt16 = 1
    package static let minorVersion: UInt16 = 0
    package static let headerSize = 64
    package static let tableEntrySize = 32
    package static let alignment = 64
    package static let requiredFlag: UInt32 = 1
    /// Known tags and whether they must be flagged required.
    package static let knownSections: [String: Bool] = ["META": true, "GRPH": true, "WGHT": true, "SRCM": false]

    package static func align(_ x: Int) -> Int { (x + alignment - 1) / alignment * alignment }
}

/// A section beyond the ones `PlanFile` models (e.g. `STAT`, or tests of
/// unknown sections). Written after the standard ones, in the given order.
package struct PlanExtraSection: Sendable, Hashable {
    package var tag: String
    package var required: Bool
    package var bytes: [UInt8]
    package init(tag: String, required: Bool, bytes: [UInt8]) { self.tag = tag; self.required = required; self.bytes = bytes }
}

/// Deterministic plan writer: the same `PlanFile` always gives the same bytes.
package enum PlanWriter {
    package static func serialize(_ plan: PlanFile) throws(SegcError) -> [UInt8] {
        try serialize(plan, extraSections: [])
    }

    /// `verify: false` skips the semantic checks (steps 11–14 of the format's
    /// verification); only tests use it, to build well-checksummed bad plans.
    package static func serialize(_ plan: PlanFile, extraSections: [PlanExtraSection],
                                  verify: Bool = true) throws(SegcError) -> [UInt8] {
        let meta = try PlanMetadataCodec.encode(plan.metadata)
        if verify {
            // The writer's own META must read back (types, ranges), like any other.
            do throws(SegcError) { _ = try PlanMetadataCodec.decode(meta) } catch { throw error.at(.section("META")) }
            try PlanVerifier.verify(plan)
        }
        let graph = try PlanGraphCodec.encode(plan.graph)

        enum Body { case bytes([UInt8]), weights }
        var sections: [(tag: [UInt8], required: Bool, body: Body, count: Int)] = [
            (Array("META".utf8), true, .bytes(meta), meta.count),
            (Array("GRPH".utf8), true, .bytes(graph), graph.count),
            (Array("WGHT".utf8), true, .weights, plan.weights.count),
        ]
        if !plan.sourceMap.isEmpty {
            let srcm = try PlanGraphCodec.encodeSourceMap(plan.sourceMap)
            sections.append((Array("SRCM".utf8), false, .bytes(srcm), srcm.count))
        }
        for e in extraSections {
            let tag = Array(e.tag.utf8)
            if tag.count != 4 || tag.contains(where: { $0 < 0x21 || $0 > 0x7E }) {
                throw SegcError(.malformed, "section tag '\(e.tag)' is not 4 printable ASCII characters")
            }
            if sections.contains(where: { $0.tag == tag }) { throw SegcError(.malformed, "section \(e.tag) written twice") }
            sections.append((tag, e.required, .bytes(e.bytes), e.bytes.count))
        }
        try Limits.check(sections.count, Limits.maxPlanSections, "section count")

        // Canonical layout: each section at align64(previous end), file ends with the last.
        let tableEnd = PlanFormat.headerSize + PlanFormat.tableEntrySize * sections.count
        var offsets: [Int] = []
        var end = tableEnd
        for s in sections {
            let off = PlanFormat.align(end)
            offsets.append(off)
            end = try Checked.add(off, s.count, "plan size")
        }
        try Limits.check(end, Limits.maxAllocationBytes, "plan size")
        var out = [UInt8](repeating: 0, count: end)

        var table = PlanByteWriter()
        for (k, s) in sections.enumerated() {
            let off = offsets[k]
            switch s.body {
            case .bytes(let b):
                out.replaceSubrange(off..<(off + b.count), with: b)
            case .weights:
                plan.weights.withBytes { raw in
                    out.withUnsafeMutableBytes { dst in
                        if raw.count > 0 { dst.baseAddress!.advanced(by: off).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
                    }
                }
            }
            let crc = out.withUnsafeBytes { PlanChecksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[off..<(off + s.count)])) }
            table.bytes.append(contentsOf: s.tag)
            table.u32(s.required ? PlanFormat.requiredFlag : 0)
            table.u64(UInt64(off))
            table.u64(UInt64(s.count))
            table.u32(crc)
            table.u32(0)
        }
        out.replaceSubrange(PlanFormat.headerSize..<tableEnd, with: table.bytes)

        var h = PlanByteWriter()
        h.bytes.append(contentsOf: PlanFormat.magic)
        h.u16(PlanFormat.majorVersion)
        h.u16(PlanFormat.minorVersion)
        h.u32(UInt32(PlanFormat.headerSize))
        h.u64(UInt64(end))
        h.u32(UInt32(sections.count))
        h.u32(0)
        h.u64(UInt64(PlanFormat.headerSize))
        h.u32(PlanChecksum.crc32c(table.bytes))
        h.bytes.append(contentsOf: [UInt8](repeating: 0, count: 16))
        h.u32(PlanChecksum.crc32c(h.bytes))
        out.replaceSubrange(0..<PlanFormat.headerSize, with: h.bytes)
        return out
    }

    /// Serialises and writes atomically (no partial file on failure).
    package static func write(_ plan: PlanFile, to path: String) throws(SegcError) {
        let bytes: [UInt8]
        do throws(SegcError) { bytes = try serialize(plan) } catch { throw error.inFile(path) }
        try AtomicFile.write(path, bytes: bytes)
    }
}
