import SegcCore

/// Finds where each entry's data starts, for reading stored entries in place
/// (product.md §2.1). libzip has already validated the archive; this reads the
/// central directory again only for the local header offsets (which libzip
/// does not expose), in central-directory order = libzip's index order.
enum ZipLocalHeaders {
    /// Local header offsets, one per central directory entry.
    static func offsets(_ fb: FileBytes) throws(SegcError) -> [Int] {
        let all = fb.buffer
        var c = ByteCursor(all, file: fb.name)
        // End of central directory: last signature within the final 64 KiB + 22 bytes.
        let minEOCD = 22
        guard all.count >= minEOCD else { throw c.failure("zip end of central directory not found", at: 0) }
        var eocd = -1
        var p = all.count - minEOCD
        let lowest = max(0, all.count - minEOCD - 65_535)
        while p >= lowest {
            if all[p] == 0x50 && all[p + 1] == 0x4B && all[p + 2] == 0x05 && all[p + 3] == 0x06 { eocd = p; break }
            p -= 1
        }
        if eocd < 0 { throw c.failure("zip end of central directory not found", at: max(0, all.count - minEOCD)) }
        try c.seek(to: eocd + 10)
        var entries = Int(try c.u16())
        var cdSize = Int(try c.u32())
        var cdOffset = Int(try c.u32())
        if entries == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // Zip64 locator just before the EOCD.
            let loc = eocd - 20
            if loc < 0 { throw c.failure("zip64 locator missing", at: eocd) }
            try c.seek(to: loc)
            if try c.u32() != 0x0706_4B50 { throw c.failure("zip64 locator missing", at: loc) }
            _ = try c.u32()
            let z64 = try Checked.nonNegative(try c.u64(), "zip64 directory offset")
            if z64 > all.count { throw c.failure("zip64 directory offset out of range", at: loc) }
            try c.seek(to: z64)
            if try c.u32() != 0x0606_4B50 { throw c.failure("zip64 end of central directory missing", at: z64) }
            try c.skip(8 + 2 + 2 + 4 + 4 + 8)
            entries = try Checked.nonNegative(try c.u64(), "zip64 entry count")
            cdSize = try Checked.nonNegative(try c.u64(), "zip64 directory size")
            cdOffset = try Checked.nonNegative(try c.u64(), "zip64 directory offset")
        }
        if entries > Limits.maxZipEntries {
            throw c.failure("zip entries \(entries) exceed the limit of \(Limits.maxZipEntries)", kind: .limit, at: eocd)
        }
        let cdEnd = try Checked.add(cdOffset, cdSize, "central directory end")
        if cdEnd > all.count { throw c.failure("zip central directory lies outside the file", at: eocd) }
        try c.seek(to: cdOffset)
        var out: [Int] = []
        out.reserveCapacity(entries)
        for _ in 0..<entries {
            let at = c.offset
            if try c.u32() != 0x0201_4B50 { throw c.failure("zip central directory entry signature missing", at: at) }
            try c.skip(16)
            let csize32 = try c.u32()
            let usize32 = try c.u32()
            let nameLen = Int(try c.u16())
            let extraLen = Int(try c.u16())
            let commentLen = Int(try c.u16())
            try c.skip(8)
            let local32 = try c.u32()
            try c.skip(nameLen)
            var local = Int(local32)
            let extra = try c.take(extraLen)
            try c.skip(commentLen)
            if local32 == 0xFFFF_FFFF {
                // Zip64 extended information (id 1): usize, csize, offset — each only if its 32-bit field is saturated.
                var e = ByteCursor(extra, file: fb.name)
                var found = false
                while e.remaining >= 4 {
                    let id = try e.u16()
                    let len = Int(try e.u16())
                    let body = try e.take(len)
                    guard id == 1 else { continue }
                    var b = ByteCursor(body, file: fb.name)
                    if usize32 == 0xFFFF_FFFF { _ = try b.u64() }
                    if csize32 == 0xFFFF_FFFF { _ = try b.u64() }
                    local = try Checked.nonNegative(try b.u64(), "zip64 local header offset")
                    found = true
                    break
                }
                if !found { throw c.failure("zip64 local header offset missing", at: at) }
            }
            out.append(local)
        }
        return out
    }

    /// Offset of the data of the entry whose local header is at `local`,
    /// checked against the central directory name and the file bounds.
    static func dataRange(_ fb: FileBytes, local: Int, name: String, size: Int) throws(SegcError) -> UnsafeRawBufferPointer {
        var c = ByteCursor(fb.buffer, file: fb.name, record: nil)
        if local < 0 || local > fb.count { throw c.failure("local header offset \(local) out of range", at: 0) }
        try c.seek(to: local)
        if try c.u32() != 0x0403_4B50 { throw c.failure("zip local header signature missing for '\(name)'", at: local) }
        try c.skip(22)
        let nameLen = Int(try c.u16())
        let extraLen = Int(try c.u16())
        let localName = try c.take(nameLen)
        if !localName.elementsEqual(name.utf8) {
            throw c.failure("zip local header name differs from the central directory ('\(name)')", at: local)
        }
        try c.skip(extraLen)
        let start = c.offset
        return try fb.slice(start, size)
    }
}

/// CRC-32 (zip, reflected polynomial 0xEDB88320) for entries read in place,
/// so a damaged stored entry is refused as libzip would refuse it.
enum ZipCRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ b: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for x in b { c = t[Int((c ^ UInt32(x)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }
}
