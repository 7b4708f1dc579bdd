import SegcCore

/// One entry of the section table, as read and checked.
package struct PlanSectionEntry: Sendable, Hashable {
    package var tag: String
    package var required: Bool
    package var offset: Int
    package var length: Int
    package var checksum: UInt32
}

/// Verifying plan reader (Docs/PlanFormat.md §10): every check, in order, before a
/// `PlanFile` is returned. Weights are not copied: they are a slice of `bytes`.
package enum PlanReader {
    package static func read(path: String) throws(SegcError) -> PlanFile {
        try read(try FileBytes(contentsOf: path))
    }

    package static func read(_ bytes: FileBytes) throws(SegcError) -> PlanFile {
        let file = bytes.name
        do throws(SegcError) {
            return try readUnattributed(bytes)
        } catch {
            var e = error.inFile(file)
            if e.location == nil { e.location = .offset(0) }
            throw e
        }
    }

    /// The section table of a plan whose frame (steps 1–8) verifies; for `inspect`.
    package static func sections(_ bytes: FileBytes) throws(SegcError) -> [PlanSectionEntry] {
        do throws(SegcError) { return try frame(bytes) } catch { throw error.inFile(bytes.name) }
    }

    // MARK: - Steps 1–8: the frame

    private static func fail(_ m: String, _ kind: SegcError.Kind = .malformed, at offset: Int) -> SegcError {
        SegcError(kind, m, at: .offset(offset))
    }

    private static func le<T: FixedWidthInteger>(_ b: UnsafeRawBufferPointer, _ at: Int, _: T.Type) -> T {
        // Callers check `at + size <= b.count` first.
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: b[at + i]) << (8 * i) }
        return v
    }

    private static func frame(_ bytes: FileBytes) throws(SegcError) -> [PlanSectionEntry] {
        let b = bytes.buffer
        let size = b.count
        // 1. Magic.
        if size < 8 || !bytes.hasPrefix(PlanFormat.magic) {
            throw fail("not a segc plan (bad magic)", at: 0)
        }
        // 2. Major version.
        if size < 12 { throw fail("truncated header: \(size) bytes", at: size) }
        let major = le(b, 8, UInt16.self), minor = le(b, 10, UInt16.self)
        if major == 0 { throw fail("unknown plan format \(major).\(minor)", at: 8) }
        if major > PlanFormat.majorVersion {
            throw fail("plan format \(major).\(minor) needs a newer segc", .unsupported, at: 8)
        }
        // 3. Header checksum and fields.
        if size < PlanFormat.headerSize { throw fail("truncated header: \(size) bytes", at: size) }
        let storedHeader = le(b, 60, UInt32.self)
        let computedHeader = PlanChecksum.crc32c(UnsafeRawBufferPointer(rebasing: b[0..<60]))
        if storedHeader != computedHeader {
            throw fail("header checksum mismatch (stored \(PlanChecksum.hex(storedHeader)), computed \(PlanChecksum.hex(computedHeader)))",
                       .mismatch, at: 60)
        }
        if le(b, 12, UInt32.self) != UInt32(PlanFormat.headerSize) { throw fail("header size is not 64", at: 12) }
        if le(b, 28, UInt32.self) != 0 { throw fail("unknown header flags", .unsupported, at: 28) }
        for i in 44..<60 where b[i] != 0 { throw fail("reserved header bytes are not zero", at: i) }
        // 4. File size.
        let declared = le(b, 16, UInt64.self)
        if declared != UInt64(size) {
            throw fail("file size is \(size) bytes, the header says \(declared)", at: 16)
        }
        // 5. Table bounds and checksum.
        let count = Int(le(b, 24, UInt32.self))
        if count < 1 { throw fail("no sections", at: 24) }
        if count > Limits.maxPlanSections {
            throw fail("section count \(count) exceeds the limit of \(Limits.maxPlanSections)", .limit, at: 24)
        }
        if le(b, 32, UInt64.self) != UInt64(PlanFormat.headerSize) { throw fail("section table offset is not 64", at: 32) }
        let tableEnd = PlanFormat.headerSize + count * PlanFormat.tableEntrySize
        if tableEnd > size { throw fail("section table (\(count) entries) runs past the end of the file", at: PlanFormat.headerSize) }
        let storedTable = le(b, 40, UInt32.self)
        let computedTable = PlanChecksum.crc32c(UnsafeRawBufferPointer(rebasing: b[PlanFormat.headerSize..<tableEnd]))
        if storedTable != computedTable {
            throw fail("section table checksum mismatch (stored \(PlanChecksum.hex(storedTable)), computed \(PlanChecksum.hex(computedTable)))",
                       .mismatch, at: PlanFormat.headerSize)
        }
        // 6. Entries: canonical placement, flags, presence.
        var entries: [PlanSectionEntry] = []
        var previousEnd = tableEnd
        for k in 0..<count {
            let e = PlanFormat.headerSize + k * PlanFormat.tableEntrySize
            let tagBytes = Array(UnsafeRawBufferPointer(rebasing: b[e..<(e + 4)]))
            if tagBytes.contains(where: { $0 < 0x21 || $0 > 0x7E }) {
                throw fail("section \(k): tag is not 4 printable ASCII characters", at: e)
            }
            let tag = String(decoding: tagBytes, as: UTF8.self)
            let flags = le(b, e + 4, UInt32.self)
            if flags & ~PlanFormat.requiredFlag != 0 { throw fail("section \(tag): unknown flags \(flags)", .unsupported, at: e + 4) }
            if le(b, e + 28, UInt32.self) != 0 { throw fail("section \(tag): reserved field is not zero", at: e + 28) }
            let offset64 = le(b, e + 8, UInt64.self), length64 = le(b, e + 16, UInt64.self)
            let expected = PlanFormat.align(previousEnd)
            if offset64 != UInt64(expected) {
                throw fail("section \(tag): offset \(offset64) is not \(expected) (64-aligned, right after the previous section)", at: e + 8)
            }
            if expected > size || length64 > UInt64(size - expected) {
                throw fail("section \(tag): \(length64) bytes at \(expected) run past the end of the file (\(size) bytes)", at: e + 16)
            }
            let length = Int(length64)
            if entries.contains(where: { $0.tag == tag }) { throw fail("section \(tag) appears twice", at: e) }
            let required = flags & PlanFormat.requiredFlag != 0
            if let mustBeRequired = PlanFormat.knownSections[tag], mustBeRequired != required {
                throw fail("section \(tag) must be \(mustBeRequired ? "required" : "optional")", at: e + 4)
            }
            entries.append(PlanSectionEntry(tag: tag, required: required, offset: expected, length: length,
                                            checksum: le(b, e + 24, UInt32.self)))
            previousEnd = expected + length
        }
        if previousEnd != size {
            throw fail("\(size - previousEnd) bytes after the last section", at: previousEnd)
        }
        for tag in ["META", "GRPH", "WGHT"] where !entries.contains(where: { $0.tag == tag }) {
            throw fail("required section \(tag) is missing", at: PlanFormat.headerSize)
        }
        if let unknown = entries.first(where: { $0.required && PlanFormat.knownSections[$0.tag] == nil }) {
            throw SegcError(.unsupported, "unknown required section", at: .section(unknown.tag))
        }
        // 7. Section checksums.
        for s in entries {
            let computed = PlanChecksum.crc32c(UnsafeRawBufferPointer(rebasing: b[s.offset..<(s.offset + s.length)]))
            if computed != s.checksum {
                throw SegcError(.mismatch, "checksum mismatch (stored \(PlanChecksum.hex(s.checksum)), computed \(PlanChecksum.hex(computed)))",
                                at: .section(s.tag))
            }
        }
        // 8. Padding.
        var gapStart = tableEnd
        for s in entries {
            for i in gapStart..<s.offset where b[i] != 0 { throw fail("padding byte is not zero", at: i) }
            gapStart = s.offset + s.length
        }
        return entries
    }

    // MARK: - Steps 9–14: contents

    private static func readUnattributed(_ bytes: FileBytes) throws(SegcError) -> PlanFile {
        let entries = try frame(bytes)
        func entry(_ tag: String) -> PlanSectionEntry? { entries.first { $0.tag == tag } }
        guard let metaE = entry("META"), let grphE = entry("GRPH"), let wghtE = entry("WGHT") else {
            throw fail("required section missing", at: PlanFormat.headerSize)
        }
        let b = bytes.buffer
        func slice(_ s: PlanSectionEntry) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: b[s.offset..<(s.offset + s.length)])
        }
        // 9. META.
        let metadata: PlanMetadata
        do throws(SegcError) { metadata = try PlanMetadataCodec.decode(slice(metaE)) } catch {
            var e = error
            if case .key(let k)? = e.location { e.message = "key '\(k)': \(e.message)" }
            e.location = .section("META")
            throw e
        }
        // 10. GRPH, SRCM.
        var gc = ByteCursor(slice(grphE), baseOffset: grphE.offset, file: bytes.name)
        let graph = try PlanGraphCodec.decode(&gc)
        var sourceMap: [String] = []
        if let s = entry("SRCM") {
            var sc = ByteCursor(slice(s), baseOffset: s.offset, file: bytes.name)
            sourceMap = try PlanGraphCodec.decodeSourceMap(&sc)
        }
        // 11–14.
        try PlanVerifier.verify(metadata: metadata, graph: graph, weightsByteCount: wghtE.length,
                                sourceMapCount: sourceMap.count)
        return PlanFile(metadata: metadata, graph: graph,
                        weights: PlanWeights(mapped: bytes, offset: wghtE.offset, count: wghtE.length),
                        sourceMap: sourceMap)
    }
}
