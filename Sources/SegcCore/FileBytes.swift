#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes of a file (memory-mapped) or of a buffer (owned copy).
///
/// Readers never touch `base` directly except through `ByteCursor` or the
/// bounds-checked accessors below. Immutable after init, hence `Sendable`.
public final class FileBytes: @unchecked Sendable {
    /// Start of the bytes; valid for `count` bytes while `self` lives.
    public let base: UnsafeRawPointer
    public let count: Int
    /// The name used in error messages (the path as the user wrote it).
    public let name: String
    private let mapped: Bool

    /// Memory-maps `path` read-only. Empty files are allowed (`count == 0`).
    public init(contentsOf path: String, displayName: String? = nil) throws(SegcError) {
        name = displayName ?? path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SegcError(.io, "cannot open: \(String(cString: strerror(errno)))", file: name) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw SegcError(.io, "cannot stat: \(String(cString: strerror(errno)))", file: name) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw SegcError(.io, "is a directory", file: name) }
        let size = Int(st.st_size)
        if size == 0 {
            let p = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            base = UnsafeRawPointer(p); count = 0; mapped = false
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw SegcError(.io, "cannot map: \(String(cString: strerror(errno)))", file: name)
        }
        base = UnsafeRawPointer(p); count = size; mapped = true
    }

    /// Copies `bytes` into a 64-byte aligned buffer.
    public init<C: Collection>(bytes: C, name: String = "<memory>") where C.Element == UInt8 {
        self.name = name
        let n = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 64)
        var i = 0
        for b in bytes { p.storeBytes(of: b, toByteOffset: i, as: UInt8.self); i += 1 }
        base = UnsafeRawPointer(p); count = n; mapped = false
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), count) }
        else { UnsafeMutableRawPointer(mutating: base).deallocate() }
    }

    /// Bounds-checked sub-range.
    public func slice(_ offset: Int, _ length: Int) throws(SegcError) -> UnsafeRawBufferPointer {
        let end = try Checked.add(offset, length, "range")
        if offset < 0 || length < 0 || end > count {
            throw SegcError(.malformed, "range \(offset)..<\(end) lies outside the file (\(count) bytes)", file: name)
        }
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    /// True when the bytes are a read-only private mapping of the file (pages dropped with
    /// `madvise(MADV_DONTNEED)` come back from the file); false for an owned copy, where
    /// dropping pages would zero them.
    public var isFileMapping: Bool { mapped }

    public var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    public func byte(at i: Int) -> UInt8? { i >= 0 && i < count ? base.load(fromByteOffset: i, as: UInt8.self) : nil }

    public func hasPrefix(_ prefix: [UInt8]) -> Bool {
        guard prefix.count <= count else { return false }
        for (i, b) in prefix.enumerated() where base.load(fromByteOffset: i, as: UInt8.self) != b { return false }
        return true
    }

    public func toArray() -> [UInt8] { Array(buffer) }
}
