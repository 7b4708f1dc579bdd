// Fuzz target for segc's pickle VM (PickleVM, PickleConstructors, StorageClass).
//
// The VM has no package-level entry point, so the input reaches it through the
// containers with everything around the pickle fixed and valid:
//   - first byte even: the rest is `archive/data.pkl` of a minimal stored zip
//     (with `archive/version` = "3"), built in memory with correct CRCs, so the
//     bytes are run by the VM in zip mode;
//   - first byte odd: the rest follows a fixed legacy header (magic number,
//     protocol 1001, empty sys_info), so the VM runs it in legacy mode as the
//     object pickle (then the storage key list pickle and raw storages).
// Seeds: "\0" + a real data.pkl, "\1" + a real legacy object pickle (scripts/fuzz.sh).
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
import SegcTorch

/// Legacy header: pickle(0x1950a86a20f9469cfc6c), pickle(1001), pickle({}), protocol 2.
let legacyHeader: [UInt8] = [
    0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E,
    0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E,
    0x80, 0x02, 0x7D, 0x2E,
]

let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
    var c = UInt32(i)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

func crc32(_ b: UnsafeBufferPointer<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for x in b { c = crcTable[Int((c ^ UInt32(x)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

/// A stored (uncompressed) zip with the given entries, little-endian fields.
func storedZip(_ entries: [(name: String, data: UnsafeBufferPointer<UInt8>)]) -> [UInt8] {
    var out: [UInt8] = []
    var central: [UInt8] = []
    func u16(_ v: Int, _ a: inout [UInt8]) { a.append(UInt8(v & 0xFF)); a.append(UInt8((v >> 8) & 0xFF)) }
    func u32(_ v: UInt32, _ a: inout [UInt8]) { for i in 0..<4 { a.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    for e in entries {
        let name = Array(e.name.utf8)
        let crc = crc32(e.data)
        let size = UInt32(truncatingIfNeeded: e.data.count)
        let local = UInt32(out.count)
        u32(0x0403_4B50, &out); u16(20, &out); u16(0x0800, &out); u16(0, &out); u16(0, &out); u16(0, &out)
        u32(crc, &out); u32(size, &out); u32(size, &out); u16(name.count, &out); u16(0, &out)
        out += name
        out += e.data
        u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0x0800, &central); u16(0, &central)
        u16(0, &central); u16(0, &central)
        u32(crc, &central); u32(size, &central); u32(size, &central); u16(name.count, &central)
        u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central); u32(0, &central)
        u32(local, &central)
        central += name
    }
    let cdOffset = UInt32(out.count)
    out += central
    u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
    u32(UInt32(central.count), &out); u32(cdOffset, &out); u16(0, &out)
    return out
}

/// Feeds one input to the pickle VM. Thrown `SegcError`s are the expected outcome
/// for hostile bytes; any crash, hang or leak is a finding.
/// Exported as `LLVMFuzzerTestOneInput` only in the libFuzzer build (the test
/// bundle links every executable module, where the C symbol would clash).
#if SEGC_FUZZ
@_cdecl("LLVMFuzzerTestOneInput")
#endif
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let pickle = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let container: [UInt8]
    if data[0] & 1 == 0 {
        let version: [UInt8] = Array("3\n".utf8)
        container = version.withUnsafeBufferPointer { v in
            storedZip([("archive/data.pkl", pickle), ("archive/version", v)])
        }
    } else {
        container = legacyHeader + Array(pickle)
    }
    let fb = FileBytes(bytes: container, name: "fuzz.pth")
    do throws(SegcError) {
        _ = try TorchCheckpoint.load(fb)
    } catch {
        _ = error
    }
    return 0
}

runFuzzTarget { data, size in
    var empty: UInt8 = 0
    guard let data else { return fuzz(&empty, 0) }
    return fuzz(data, size)
}
