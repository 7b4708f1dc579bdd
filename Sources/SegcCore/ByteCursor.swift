/// A bounds-checked little-endian reader over a byte range.
///
/// Every read checks the remaining length first and throws `.malformed` with the
/// absolute offset; nothing here can trap on input data.
public struct ByteCursor {
    public let bytes: UnsafeRawBufferPointer
    /// Offset of `bytes[0]` in the file, for error messages.
    public let baseOffset: Int
    public private(set) var offset: Int = 0
    public var file: String?
    public var record: String?

    public init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0, file: String? = nil, record: String? = nil) {
        self.bytes = bytes
        self.baseOffset = baseOffset
        self.file = file
        self.record = record
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset >= bytes.count }
    /// Absolute offset of the next byte.
    public var position: Int { baseOffset + offset }

    public func failure(_ message: String, kind: SegcError.Kind = .malformed, at pos: Int? = nil) -> SegcError {
        let p = pos ?? position
        if let record { return SegcError(kind, message, file: file, at: .recordOffset(record, p)) }
        return SegcError(kind, message, file: file, at: .offset(p))
    }

    @inline(__always)
    private mutating func need(_ n: Int, _ what: String) throws(SegcError) {
        if n < 0 || n > remaining {
            throw failure("truncated: \(what) needs \(n) bytes, \(remaining) left")
        }
    }

    public mutating func seek(to newOffset: Int) throws(SegcError) {
        if newOffset < 0 || newOffset > bytes.count { throw failure("offset \(newOffset) out of range") }
        offset = newOffset
    }

    public mutating func skip(_ n: Int) throws(SegcError) {
        try need(n, "skip")
        offset += n
    }

    public mutating func u8() throws(SegcError) -> UInt8 {
        try need(1, "u8")
        defer { offset += 1 }
        return bytes[offset]
    }

    public func peekU8() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

    @inline(__always)
    private mutating func le<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws(SegcError) -> T {
        let n = MemoryLayout<T>.size
        try need(n, what)
        var v: T = 0
        for i in 0..<n { v |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        offset += n
        return v
    }

    public mutating func u16() throws(SegcError) -> UInt16 { try le(UInt16.self, "u16") }
    public mutating func u32() throws(SegcError) -> UInt32 { try le(UInt32.self, "u32") }
    public mutating func u64() throws(SegcError) -> UInt64 { try le(UInt64.self, "u64") }
    public mutating func i8() throws(SegcError) -> Int8 { Int8(bitPattern: try u8()) }
    public mutating func i16() throws(SegcError) -> Int16 { Int16(bitPattern: try u16()) }
    public mutating func i32() throws(SegcError) -> Int32 { Int32(bitPattern: try u32()) }
    public mutating func i64() throws(SegcError) -> Int64 { Int64(bitPattern: try u64()) }
    public mutating func f32() throws(SegcError) -> Float { Float(bitPattern: try u32()) }
    public mutating func f64() throws(SegcError) -> Double { Double(bitPattern: try u64()) }

    /// Big-endian 64-bit float (pickle BINFLOAT).
    public mutating func f64BigEndian() throws(SegcError) -> Double {
        try need(8, "f64")
        var v: UInt64 = 0
        for i in 0..<8 { v = (v << 8) | UInt64(bytes[offset + i]) }
        offset += 8
        return Double(bitPattern: v)
    }

    /// `n` bytes as a sub-buffer (no copy).
    public mutating func take(_ n: Int) throws(SegcError) -> UnsafeRawBufferPointer {
        try need(n, "\(n)-byte field")
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }

    public mutating func bytesArray(_ n: Int) throws(SegcError) -> [UInt8] { Array(try take(n)) }

    /// UTF-8 string of `n` bytes; invalid UTF-8 is an error.
    public mutating func utf8(_ n: Int) throws(SegcError) -> String {
        let start = position
        let b = try take(n)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw failure("invalid UTF-8 string", at: start)
        }
        return s
    }
}
