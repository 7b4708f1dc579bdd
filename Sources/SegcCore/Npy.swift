/// Reader and writer of NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
///
/// Reading accepts the dtypes `<f4 <f8 |u1 |i1 <i4 <i8 |b1`, C order only
/// (`fortran_order: True` is refused), headers up to `Limits.maxNpyHeaderBytes`.
/// The header dictionary is parsed by a small, non-recursive tokenizer that
/// accepts exactly the Python literal numpy writes (keys `descr`,
/// `fortran_order`, `shape`, each once), so hostile headers fail cleanly. The
/// payload must have exactly `count · itemsize` bytes. Every error names the file.
///
/// Writing produces what `numpy.save` does: a version 1.0 header padded with
/// spaces and a newline so that the data starts at a multiple of 64 bytes.
package enum Npy {
    package enum DType: String, Sendable, Hashable, CaseIterable {
        case float32 = "<f4", float64 = "<f8", uint8 = "|u1", int8 = "|i1"
        case int32 = "<i4", int64 = "<i8", bool = "|b1"

        package var itemSize: Int {
            switch self {
            case .float32, .int32: return 4
            case .float64, .int64: return 8
            case .uint8, .int8, .bool: return 1
            }
        }

        package var isFloat: Bool { self == .float32 || self == .float64 }
    }

    /// A decoded array: floating dtypes as `[Float]` (f8 rounded to f32), integer and
    /// bool dtypes as `[Int64]`.
    package struct Array: Sendable, Equatable {
        package enum Storage: Sendable, Equatable {
            case floats([Float])
            case ints([Int64])
        }

        package var dtype: DType
        package var shape: [Int]
        package var storage: Storage

        package init(dtype: DType, shape: [Int], storage: Storage) {
            self.dtype = dtype; self.shape = shape; self.storage = storage
        }

        package var count: Int {
            switch storage {
            case .floats(let a): return a.count
            case .ints(let a): return a.count
            }
        }

        /// The values as Float (integers converted).
        package var floats: [Float] {
            switch storage {
            case .floats(let a): return a
            case .ints(let a): return a.map { Float($0) }
            }
        }

        /// The values of an integer or bool array; nil for floating arrays.
        package var int64s: [Int64]? {
            if case .ints(let a) = storage { return a }
            return nil
        }
    }

    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    // MARK: - Reading

    /// Reads the `.npy` file at `path` (named `displayName` in errors).
    package static func read(contentsOf path: String, displayName: String? = nil) throws(SegcError) -> Array {
        let file = try FileBytes(contentsOf: path, displayName: displayName)
        return try read(file)
    }

    package static func read(_ file: FileBytes) throws(SegcError) -> Array {
        try decode(file.buffer, name: file.name)
    }

    /// Decodes `.npy` bytes; `name` is used in errors.
    package static func decode(_ bytes: UnsafeRawBufferPointer, name: String) throws(SegcError) -> Array {
        do {
            return try decodeUnnamed(bytes, name: name)
        } catch {
            throw error.inFile(name)
        }
    }

    private static func decodeUnnamed(_ bytes: UnsafeRawBufferPointer, name: String) throws(SegcError) -> Array {
        var cur = ByteCursor(bytes, file: name)
        for m in magic {
            if try cur.u8() != m { throw SegcError(.malformed, "not a .npy file (bad magic)", file: name, at: .offset(0)) }
        }
        let major = try cur.u8()
        let minor = try cur.u8()
        let headerLength: Int
        switch major {
        case 1: headerLength = Int(try cur.u16())
        case 2, 3: headerLength = try Checked.nonNegative(UInt64(try cur.u32()), "header length")
        default:
            throw SegcError(.unsupported, "unsupported .npy format version \(major).\(minor)", file: name, at: .offset(6))
        }
        if minor != 0 {
            throw SegcError(.unsupported, "unsupported .npy format version \(major).\(minor)", file: name, at: .offset(7))
        }
        if headerLength > Limits.maxNpyHeaderBytes {
            throw SegcError(.limit, "header length \(headerLength) exceeds the limit of \(Limits.maxNpyHeaderBytes)",
                            file: name, at: .offset(8))
        }
        let headerStart = cur.position
        let headerBytes = try cur.take(headerLength)
        let header = try parseHeader(headerBytes, utf8: major == 3, name: name, base: headerStart)

        let count = try Checked.elementCount(header.shape, "array")
        let byteCount = try Checked.mul(count, header.dtype.itemSize, "array size")
        try Limits.check(byteCount, Limits.maxAllocationBytes, "array size in bytes")
        if cur.remaining != byteCount {
            throw SegcError(.malformed, "data has \(cur.remaining) bytes, shape \(header.shape) of \(header.dtype.rawValue) needs \(byteCount)",
                            file: name, at: .offset(cur.position))
        }
        let data = try cur.take(byteCount)
        let storage: Array.Storage
        switch header.dtype {
        case .float32:
            var a = [Float](repeating: 0, count: count)
            for i in 0..<count {
                a[i] = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
            storage = .floats(a)
        case .float64:
            var a = [Float](repeating: 0, count: count)
            for i in 0..<count {
                a[i] = Float(Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
            }
            storage = .floats(a)
        case .uint8:
            storage = .ints(data.map { Int64($0) })
        case .int8:
            storage = .ints(data.map { Int64(Int8(bitPattern: $0)) })
        case .bool:
            var a = [Int64](repeating: 0, count: count)
            for i in 0..<count {
                let b = data[i]
                if b > 1 {
                    throw SegcError(.malformed, "bool element \(i) has byte value \(b)", file: name,
                                    at: .offset(headerStart + headerLength + i))
                }
                a[i] = Int64(b)
            }
            storage = .ints(a)
        case .int32:
            var a = [Int64](repeating: 0, count: count)
            for i in 0..<count {
                a[i] = Int64(Int32(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))))
            }
            storage = .ints(a)
        case .int64:
            var a = [Int64](repeating: 0, count: count)
            for i in 0..<count {
                a[i] = Int64(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
            }
            storage = .ints(a)
        }
        return Array(dtype: header.dtype, shape: header.shape, storage: storage)
    }

    private struct Header {
        var dtype: DType
        var shape: [Int]
    }

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }` (any order,
    /// single or double quotes, optional trailing commas, trailing whitespace/newline).
    private static func parseHeader(_ raw: UnsafeRawBufferPointer, utf8: Bool, name: String, base: Int) throws(SegcError) -> Header {
        let b = Swift.Array(raw)
        var i = 0
        func fail(_ m: String) -> SegcError {
            SegcError(.malformed, "bad .npy header: \(m)", file: name, at: .offset(base + i))
        }
        func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        }
        func expect(_ c: UInt8) throws(SegcError) {
            skipSpace()
            if i >= b.count || b[i] != c { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
            i += 1
        }
        func peek() -> UInt8? { skipSpace(); return i < b.count ? b[i] : nil }
        func string() throws(SegcError) -> String {
            skipSpace()
            guard i < b.count, b[i] == 0x27 || b[i] == 0x22 else { throw fail("expected a string") }
            let q = b[i]
            i += 1
            let start = i
            while i < b.count, b[i] != q {
                if b[i] == 0x5C || b[i] < 0x20 { throw fail("unsupported character in string") }
                i += 1
            }
            if i >= b.count { throw fail("unterminated string") }
            let s = b[start..<i]
            i += 1
            if s.count > 64 { throw fail("string too long") }
            if utf8 {
                guard let str = String(validating: s, as: UTF8.self) else { throw fail("invalid UTF-8") }
                return str
            }
            return String(s.map { Character(Unicode.Scalar($0)) })  // latin-1
        }
        func word() -> String {
            skipSpace()
            let start = i
            while i < b.count, (b[i] >= 0x41 && b[i] <= 0x5A) || (b[i] >= 0x61 && b[i] <= 0x7A) { i += 1 }
            return String(decoding: b[start..<i], as: UTF8.self)
        }
        func integer() throws(SegcError) -> Int {
            skipSpace()
            let start = i
            var v = 0
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(b[i] - 0x30))
                if o1 || o2 || s > Limits.maxDimension {
                    throw SegcError(.limit, "bad .npy header: dimension exceeds the limit of \(Limits.maxDimension)",
                                    file: name, at: .offset(base + start))
                }
                v = s
                i += 1
            }
            if i == start { throw fail("expected a non-negative integer") }
            if i < b.count, b[i] == 0x4C { i += 1 }  // Python 2 long suffix 'L'
            return v
        }

        var descr: String?
        var fortran: Bool?
        var shape: [Int]?
        try expect(0x7B)  // {
        while true {
            if peek() == 0x7D { i += 1; break }  // }
            let key = try string()
            try expect(0x3A)  // :
            switch key {
            case "descr":
                if descr != nil { throw fail("duplicate key 'descr'") }
                descr = try string()
            case "fortran_order":
                if fortran != nil { throw fail("duplicate key 'fortran_order'") }
                switch word() {
                case "True": fortran = true
                case "False": fortran = false
                default: throw fail("fortran_order must be True or False")
                }
            case "shape":
                if shape != nil { throw fail("duplicate key 'shape'") }
                try expect(0x28)  // (
                var dims: [Int] = []
                while true {
                    if peek() == 0x29 { i += 1; break }  // )
                    dims.append(try integer())
                    if dims.count > Limits.maxTensorRank {
                        throw SegcError(.limit, "bad .npy header: rank above the limit of \(Limits.maxTensorRank)",
                                        file: name, at: .offset(base + i))
                    }
                    let c = peek()
                    if c == 0x2C { i += 1; continue }
                    if c == 0x29 { i += 1; break }
                    throw fail("expected ',' or ')' in shape")
                }
                // A one-element tuple needs its comma in Python, but numpy's own parser
                // (ast.literal_eval) would also accept `(5)` as the int 5 and then refuse it;
                // we accept only tuples, so `(5)` is read as the 1-tuple — harmless.
                shape = dims
            default:
                throw fail("unexpected key '\(key)'")
            }
            let c = peek()
            if c == 0x2C { i += 1; continue }
            if c == 0x7D { i += 1; break }
            throw fail("expected ',' or '}'")
        }
        skipSpace()
        // numpy pads with spaces and ends with '\n'; tolerate trailing NULs of old writers.
        while i < b.count, b[i] == 0 { i += 1 }
        if i != b.count { throw fail("trailing characters after the header dictionary") }

        guard let descr, let fortran, let shape else {
            throw SegcError(.malformed, "bad .npy header: missing one of 'descr', 'fortran_order', 'shape'",
                            file: name, at: .offset(base))
        }
        if fortran {
            throw SegcError(.unsupported, "Fortran-order arrays are not supported (fortran_order: True)",
                            file: name, at: .offset(base))
        }
        let dtype: DType
        switch descr {
        case "<f4": dtype = .float32
        case "<f8": dtype = .float64
        case "|u1", "<u1", "=u1": dtype = .uint8
        case "|i1", "<i1", "=i1": dtype = .int8
        case "|b1", "<b1", "=b1": dtype = .bool
        case "<i4": dtype = .int32
        case "<i8": dtype = .int64
        default:
            throw SegcError(.unsupported, "unsupported dtype '\(descr)' (supported: <f4 <f8 |u1 |i1 <i4 <i8 |b1)",
                            file: name, at: .offset(base))
        }
        return Header(dtype: dtype, shape: shape)
    }

    // MARK: - Writing

    /// The `.npy` v1.0 header for `dtype` and `shape`, padded so the data starts at a
    /// multiple of 64 bytes (exactly as numpy 1.x writes it).
    package static func header(dtype: DType, shape: [Int]) -> [UInt8] {
        let dims: String
        switch shape.count {
        case 0: dims = "()"
        case 1: dims = "(\(shape[0]),)"
        default: dims = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var dict = Swift.Array("{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(dims), }".utf8)
        let unpadded = magic.count + 2 + 2 + dict.count + 1
        let padding = (64 - unpadded % 64) % 64
        dict.append(contentsOf: Swift.Array(repeating: 0x20, count: padding))
        dict.append(0x0A)
        var out = magic
        out.append(1); out.append(0)
        out.append(UInt8(dict.count & 0xFF)); out.append(UInt8((dict.count >> 8) & 0xFF))
        out.append(contentsOf: dict)
        return out
    }

    private static func checkShape(_ shape: [Int], _ count: Int) throws(SegcError) {
        let n = try Checked.elementCount(shape, "array")
        if n != count { throw SegcError(.mismatch, "shape \(shape) needs \(n) values, \(count) given") }
    }

    /// Encodes a float32 array.
    package static func encode(_ values: [Float], shape: [Int]) throws(SegcError) -> [UInt8] {
        try checkShape(shape, values.count)
        var out = header(dtype: .float32, shape: shape)
        out.reserveCapacity(out.count + values.count * 4)
        for v in values {
            let u = v.bitPattern.littleEndian
            withUnsafeBytes(of: u) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Encodes a uint8 array.
    package static func encode(_ values: [UInt8], shape: [Int]) throws(SegcError) -> [UInt8] {
        try checkShape(shape, values.count)
        return header(dtype: .uint8, shape: shape) + values
    }

    /// Encodes an int64 array.
    package static func encode(_ values: [Int64], shape: [Int]) throws(SegcError) -> [UInt8] {
        try checkShape(shape, values.count)
        var out = header(dtype: .int64, shape: shape)
        out.reserveCapacity(out.count + values.count * 8)
        for v in values {
            let u = v.littleEndian
            withUnsafeBytes(of: u) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Writes a float32 `.npy` file atomically.
    package static func write(_ values: [Float], shape: [Int], to path: String) throws(SegcError) {
        let bytes: [UInt8]
        do { bytes = try encode(values, shape: shape) } catch { throw error.inFile(path) }
        try AtomicFile.write(path, bytes: bytes)
    }

    /// Writes a uint8 `.npy` file atomically.
    package static func write(_ values: [UInt8], shape: [Int], to path: String) throws(SegcError) {
        let bytes: [UInt8]
        do { bytes = try encode(values, shape: shape) } catch { throw error.inFile(path) }
        try AtomicFile.write(path, bytes: bytes)
    }

    /// Writes an int64 `.npy` file atomically.
    package static func write(_ values: [Int64], shape: [Int], to path: String) throws(SegcError) {
        let bytes: [UInt8]
        do { bytes = try encode(values, shape: shape) } catch { throw error.inFile(path) }
        try AtomicFile.write(path, bytes: bytes)
    }
}
