import CZip
import SegcCore

/// The PyTorch zip container (product.md §2.1), read with libzip from the
/// mapped file bytes.
final class ZipContainer {
    struct Entry {
        let index: UInt64
        let name: String
        let size: Int
        let compressedSize: Int
        let method: UInt16
        let crc: UInt32
    }

    private let archive: OpaquePointer
    let file: String
    /// The file must outlive the archive (libzip reads the mapped bytes).
    private let bytes: FileBytes
    let root: String
    private(set) var entries: [String: Entry] = [:]
    /// Local header offsets by libzip index (central directory order).
    private var localOffsets: [Int] = []

    init(_ fb: FileBytes) throws(SegcError) {
        bytes = fb
        file = fb.name
        var zerr = zip_error_t()
        zip_error_init(&zerr)
        defer { zip_error_fini(&zerr) }
        guard let src = zip_source_buffer_create(fb.base, zip_uint64_t(fb.count), 0, &zerr) else {
            throw SegcError(.io, "libzip: \(String(cString: zip_error_strerror(&zerr)))", file: fb.name, at: .offset(0))
        }
        guard let za = zip_open_from_source(src, ZIP_RDONLY, &zerr) else {
            zip_source_free(src)
            throw SegcError(.malformed, "not a readable zip archive (libzip: \(String(cString: zip_error_strerror(&zerr))))",
                            file: fb.name, at: .offset(0))
        }
        archive = za
        // From here on `deinit` discards the archive.
        let n = zip_get_num_entries(za, 0)
        if n < 0 { root = ""; throw SegcError(.malformed, "zip central directory unreadable", file: file, at: .offset(0)) }
        if n > Int64(Limits.maxZipEntries) {
            root = ""
            throw SegcError(.limit, "zip entries \(n) exceed the limit of \(Limits.maxZipEntries)", file: file, at: .offset(0))
        }
        var list: [Entry] = []
        var total = 0
        for i in 0..<UInt64(n) {
            var st = zip_stat_t()
            zip_stat_init(&st)
            if zip_stat_index(za, i, 0, &st) != 0 || st.name == nil {
                root = ""
                throw SegcError(.malformed, "zip entry \(i) unreadable: \(String(cString: zip_strerror(za)))", file: file, at: .record("entry \(i)"))
            }
            let name = st.name.map { String(cString: $0) } ?? ""
            if st.encryption_method != UInt16(ZIP_EM_NONE) {
                root = ""
                throw SegcError(.unsupported, "zip entry is encrypted", file: file, at: .record(name))
            }
            if st.size > UInt64(Limits.maxZipEntryBytes) {
                root = ""
                throw SegcError(.limit, "zip entry size \(st.size) exceeds the limit of \(Limits.maxZipEntryBytes)", file: file, at: .record(name))
            }
            let size = Int(st.size)
            guard st.comp_size <= UInt64(Int.max) else {
                root = ""
                throw SegcError(.malformed, "zip entry compressed size \(st.comp_size) is too large", file: file, at: .record(name))
            }
            let csize = Int(st.comp_size)
            if st.comp_method != UInt16(ZIP_CM_STORE) {
                let (cap, o) = csize.multipliedReportingOverflow(by: Limits.maxZipCompressionRatio)
                if !o && size > cap {
                    root = ""
                    throw SegcError(.limit, "zip entry compression ratio \(csize == 0 ? size : size / max(csize, 1)):1 exceeds the limit of \(Limits.maxZipCompressionRatio):1",
                                    file: file, at: .record(name))
                }
            }
            total = total &+ size // each ≤ 4 GiB, at most 100,000 entries: cannot overflow
            if total > Limits.maxZipTotalBytes {
                root = ""
                throw SegcError(.limit, "zip total uncompressed size \(total) exceeds the limit of \(Limits.maxZipTotalBytes)", file: file, at: .record(name))
            }
            list.append(Entry(index: i, name: name, size: size, compressedSize: csize, method: st.comp_method, crc: st.crc))
        }
        localOffsets = try ZipLocalHeaders.offsets(fb)
        if localOffsets.count != list.count {
            root = ""
            throw SegcError(.malformed, "zip central directory lists \(localOffsets.count) entries, libzip \(list.count)", file: file, at: .offset(0))
        }
        guard let first = list.first else {
            root = ""
            throw SegcError(.malformed, "zip archive is empty", file: file, at: .offset(0))
        }
        guard let slash = first.name.firstIndex(of: "/"), slash != first.name.startIndex else {
            root = ""
            throw SegcError(.malformed, "zip entry '\(first.name)' is not inside a top-level folder", file: file, at: .record(first.name))
        }
        let rootName = String(first.name[..<slash])
        root = rootName
        let prefix = rootName + "/"
        for e in list {
            if !e.name.hasPrefix(prefix) {
                throw SegcError(.refused, "zip entry lies outside the archive folder '\(rootName)/'", file: file, at: .record(e.name))
            }
            if entries[e.name] != nil {
                throw SegcError(.refused, "duplicate zip entry name", file: file, at: .record(e.name))
            }
            entries[e.name] = e
        }
        for e in list {
            let rel = e.name.dropFirst(prefix.count)
            if rel == "constants.pkl" || rel.hasPrefix("code/") {
                throw SegcError(.refused, "this is a TorchScript archive (torch.jit.save); save the weights with torch.save(model.state_dict(), path) or export ONNX",
                                file: file, at: .record(e.name))
            }
        }
    }

    deinit { zip_discard(archive) }

    func entry(_ relative: String) -> Entry? { entries[root + "/" + relative] }

    /// The entry's bytes: stored entries in place (from the mapped file),
    /// deflated ones inflated into memory (under the limits checked at open).
    func bytes(_ e: Entry) throws(SegcError) -> EntryBytes {
        if e.method == UInt16(ZIP_CM_STORE) {
            guard let local = localOffsets.indices.contains(Int(e.index)) ? localOffsets[Int(e.index)] : nil else {
                throw SegcError(.malformed, "zip entry has no local header offset", file: file, at: .record(e.name))
            }
            if e.compressedSize != e.size {
                throw SegcError(.malformed, "stored zip entry has compressed size \(e.compressedSize) ≠ size \(e.size)", file: file, at: .record(e.name))
            }
            let range: UnsafeRawBufferPointer
            do throws(SegcError) {
                range = try ZipLocalHeaders.dataRange(bytes, local: local, name: e.name, size: e.size)
            } catch {
                throw error.at(.record(e.name))
            }
            let crc = ZipCRC32.checksum(range)
            if crc != e.crc {
                throw SegcError(.malformed, "CRC mismatch (stored \(e.crc), computed \(crc))", file: file, at: .record(e.name))
            }
            return .mapped(range)
        }
        return .owned(try read(e))
    }

    /// Reads the whole entry (inflating deflated ones), checking the CRC.
    func read(_ e: Entry) throws(SegcError) -> [UInt8] {
        guard let zf = zip_fopen_index(archive, e.index, 0) else {
            throw SegcError(.malformed, "cannot open zip entry: \(String(cString: zip_strerror(archive)))", file: file, at: .record(e.name))
        }
        defer { zip_fclose(zf) }
        var failed: String?
        let size = e.size
        var out = [UInt8](repeating: 0, count: size)
        out.withUnsafeMutableBytes { buf in
            guard let base = buf.baseAddress else { return }
            var got = 0
            while got < size {
                let r = zip_fread(zf, base + got, zip_uint64_t(size - got))
                if r < 0 { failed = String(cString: zip_file_strerror(zf)); return }
                if r == 0 { failed = "entry ends after \(got) of \(size) bytes"; return }
                got += Int(r)
            }
        }
        if failed == nil {
            // One more read reaches the end of the entry, where libzip checks the CRC.
            var extra: UInt8 = 0
            let r = zip_fread(zf, &extra, 1)
            if r < 0 { failed = String(cString: zip_file_strerror(zf)) }
            else if r > 0 { failed = "entry is longer than its recorded size \(size)" }
        }
        if let failed {
            throw SegcError(.malformed, "cannot read zip entry: \(failed)", file: file, at: .record(e.name))
        }
        return out
    }
}

/// Bytes of a zip entry: a range of the mapped file (kept alive by the
/// `ZipContainer`, which holds the `FileBytes`) or an inflated copy.
enum EntryBytes {
    case mapped(UnsafeRawBufferPointer)
    case owned([UInt8])

    func with<R>(_ body: (UnsafeRawBufferPointer) throws(SegcError) -> R) throws(SegcError) -> R {
        switch self {
        case .mapped(let b): return try body(b)
        case .owned(let a): return try withBytes(a, body)
        }
    }
}
