import XCTest
import SegcCore
import SegcTorch

/// The shared folder: `$SEGC_SHARED`, else `../shared` next to the package root.
func sharedDir() -> String {
    if let env = ProcessInfo.processInfo.environment["SEGC_SHARED"], !env.isEmpty { return env }
    // <root>/Tests/SegcTorchTests/Support.swift → <root>
    var comps = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    comps.removeLast(3)
    let root = comps.joined(separator: "/")
    return root + "/../shared"
}

func modelPath(_ name: String) throws -> String {
    let p = sharedDir() + "/models/" + name
    guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("shared model \(name) not found at \(p)") }
    return p
}

/// Runs `body`, which must throw a SegcError; returns it.
func expectError(_ body: () throws(SegcError) -> Void, file: StaticString = #filePath, line: UInt = #line) -> SegcError? {
    do throws(SegcError) {
        try body()
        XCTFail("expected a SegcError", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// A tiny hand-written pickle assembler (protocol 2 opcodes).
struct PickleWriter {
    var b: [UInt8] = [0x80, 0x02]

    mutating func op(_ c: UInt8) { b.append(c) }
    mutating func op(_ c: Character) { b.append(UInt8(ascii: c.unicodeScalars.first ?? "?")) }
    mutating func global(_ module: String, _ name: String) {
        op("c"); b += Array("\(module)\n\(name)\n".utf8)
    }
    mutating func str(_ s: String) {
        let u = Array(s.utf8)
        op("X"); u32(UInt32(u.count)); b += u
    }
    mutating func int(_ v: Int32) { op("J"); u32(UInt32(bitPattern: v)) }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func ints(_ vs: [Int32]) { op("("); for v in vs { int(v) }; op("t") }
    mutating func mark() { op("(") }
    mutating func tuple() { op("t") }
    mutating func stop() { op(".") }

    /// `OrderedDict()` via REDUCE.
    mutating func emptyOrderedDict() { global("collections", "OrderedDict"); op(")"); op("R") }

    /// `_rebuild_tensor_v2(('storage', cls, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`.
    mutating func tensor(cls: String, key: String, numel: Int32, offset: Int32, size: [Int32], stride: [Int32], legacy: Bool = false) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); str("storage"); global("torch", cls); str(key); str("cpu"); int(numel)
        if legacy { op("N") }
        tuple()
        op("Q")
        int(offset); ints(size); ints(stride); op(0x89); emptyOrderedDict()
        tuple()
        op("R")
    }
}

/// Wraps an object pickle into a legacy container with the given storages
/// (key, element count, raw bytes).
func legacyContainer(object: [UInt8], storages: [(String, Int64, [UInt8])] = []) -> [UInt8] {
    var out: [UInt8] = []
    // magic number 0x1950a86a20f9469cfc6c as LONG1 (10 bytes, little-endian)
    let magic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
    out += [0x80, 0x02, 0x8a, UInt8(magic.count)] + magic + [0x2e]
    out += [0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e] // 1001
    out += [0x80, 0x02, 0x7d, 0x2e] // sys_info {}
    out += object
    var keys = PickleWriter()
    keys.op("]"); keys.mark(); for (k, _, _) in storages { keys.str(k) }; keys.op("e"); keys.stop()
    out += keys.b
    for (_, n, data) in storages {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: n) >> (8 * i))) }
        out += data
    }
    return out
}
