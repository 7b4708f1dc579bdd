#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore
import SegcIR

/// Initializers stored outside the model (`data_location = EXTERNAL`,
/// product.md §2.7). `location` is resolved against the model's folder;
/// absolute paths, `..` escapes and symlinks leaving the folder are refused;
/// `offset`/`length` are checked against the file and the tensor's byte size.
struct ExternalData {
    /// Folder of the model file.
    var folder: String
    var modelFile: String
    private var open: [String: FileBytes] = [:]

    init(modelPath: String) {
        modelFile = modelPath
        if let slash = modelPath.lastIndex(of: "/") {
            let f = String(modelPath[..<slash])
            folder = f.isEmpty ? "/" : f
        } else {
            folder = "."
        }
    }

    mutating func read(_ entries: [String: String], count: Int, elementSize: Int, onnxType: Int32,
                       what: String) throws(SegcError) -> TensorStorage {
        func fail(_ kind: SegcError.Kind, _ m: String) -> SegcError { SegcError(kind, "\(what): \(m)", file: modelFile) }
        guard let location = entries["location"], !location.isEmpty else {
            throw fail(.malformed, "external data without a location")
        }
        let path = try resolve(location, fail: fail)
        let file: FileBytes
        if let f = open[path] {
            file = f
        } else {
            if access(path, F_OK) != 0 {
                throw fail(.io, "external data file '\(location)' not found")
            }
            do { file = try FileBytes(contentsOf: path, displayName: location) } catch {
                throw fail(.io, "cannot read external data file '\(location)': \(error.message)")
            }
            open[path] = file
        }
        func parse(_ key: String) throws(SegcError) -> Int? {
            guard let s = entries[key] else { return nil }
            guard let v = Int(s), v >= 0 else { throw fail(.malformed, "external data \(key) '\(s)' is not a non-negative integer") }
            return v
        }
        let bytes = try Checked.mul(count, elementSize, "\(what) size")
        let offset = try parse("offset") ?? 0
        let length = try parse("length") ?? bytes
        if length != bytes {
            throw fail(.mismatch, "external data length \(length) differs from the tensor's size \(bytes) (\(count) × \(elementSize) bytes)")
        }
        let end = try Checked.add(offset, length, "external data range")
        if end > file.count {
            throw fail(.malformed, "external data range \(offset)..<\(end) lies outside '\(location)' (\(file.count) bytes)")
        }
        let slice = try file.slice(offset, length)
        if let sum = entries["checksum"], !sum.isEmpty {
            let actual = SHA1.hex(slice)
            if actual.lowercased() != sum.lowercased() {
                throw fail(.mismatch, "external data checksum \(actual) differs from the recorded \(sum)")
            }
        }
        return RawDecode.storage(slice, type: onnxType, count: count)
    }

    private func resolve(_ location: String, fail: (SegcError.Kind, String) -> SegcError) throws(SegcError) -> String {
        if location.hasPrefix("/") { throw fail(.refused, "external data location '\(location)' is an absolute path") }
        var parts: [Substring] = []
        for comp in location.split(separator: "/", omittingEmptySubsequences: true) {
            if comp == "." { continue }
            if comp == ".." {
                if parts.isEmpty { throw fail(.refused, "external data location '\(location)' leaves the model's folder") }
                parts.removeLast()
            } else {
                parts.append(comp)
            }
        }
        if parts.isEmpty { throw fail(.malformed, "external data location '\(location)' names no file") }
        let path = folder + "/" + parts.joined(separator: "/")
        // Symlinks must stay inside the folder.
        if let realFolder = Self.realPath(folder), let real = Self.realPath(path) {
            let prefix = realFolder.hasSuffix("/") ? realFolder : realFolder + "/"
            if !real.hasPrefix(prefix) {
                throw fail(.refused, "external data location '\(location)' resolves outside the model's folder")
            }
            return real
        }
        return path
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }
}

/// SHA-1 (FIPS 180-4), only for the optional external-data checksum.
enum SHA1 {
    static func hex(_ data: UnsafeRawBufferPointer) -> String {
        var h: [UInt32] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
        let n = data.count
        var tail = [UInt8](data[(n - n % 64)..<n])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        let bits = UInt64(n) &* 8
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        var w = [UInt32](repeating: 0, count: 80)
        func block(_ get: (Int) -> UInt8) {
            for i in 0..<16 {
                w[i] = UInt32(get(4 * i)) << 24 | UInt32(get(4 * i + 1)) << 16 | UInt32(get(4 * i + 2)) << 8 | UInt32(get(4 * i + 3))
            }
            for i in 16..<80 {
                let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                w[i] = (x << 1) | (x >> 31)
            }
            var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4]
            for i in 0..<80 {
                let f: UInt32, k: UInt32
                switch i {
                case 0..<20: f = (b & c) | (~b & d); k = 0x5A827999
                case 20..<40: f = b ^ c ^ d; k = 0x6ED9EBA1
                case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC
                default: f = b ^ c ^ d; k = 0xCA62C1D6
                }
                let t = ((a << 5) | (a >> 27)) &+ f &+ e &+ k &+ w[i]
                e = d; d = c; c = (b << 30) | (b >> 2); b = a; a = t
            }
            h[0] = h[0] &+ a; h[1] = h[1] &+ b; h[2] = h[2] &+ c; h[3] = h[3] &+ d; h[4] = h[4] &+ e
        }
        var off = 0
        while off + 64 <= n - n % 64 {
            let o = off
            block { data[o + $0] }
            off += 64
        }
        var t = 0
        while t < tail.count {
            let o = t
            block { tail[o + $0] }
            t += 64
        }
        let digits = Array("0123456789abcdef")
        var s = ""
        for x in h { for i in (0..<8).reversed() { s.append(digits[Int((x >> (UInt32(i) * 4)) & 0xf)]) } }
        return s
    }
}
