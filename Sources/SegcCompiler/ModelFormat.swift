import SegcCore

/// Input formats, recognised by content (product.md §2), never by extension.
package enum ModelFormat: String, Sendable {
    case pthZip = "pth-zip"
    case pthLegacy = "pth-legacy"
    case segc
    case onnx

    package static func detect(_ f: FileBytes) throws(SegcError) -> ModelFormat {
        if f.hasPrefix(Array("SEGCPLAN".utf8)) { return .segc }
        if f.hasPrefix([0x50, 0x4B, 0x03, 0x04]) { return .pthZip }
        // Legacy: PROTO 2..5, then LONG1 of 10 bytes (the magic number 0x1950a86a20f9469cfc6c).
        if let b0 = f.byte(at: 0), b0 == 0x80, let b1 = f.byte(at: 1), (2...5).contains(b1),
           f.byte(at: 2) == 0x8A, f.byte(at: 3) == 0x0A {
            return .pthLegacy
        }
        if f.count > 262, f.byte(at: 257) == UInt8(ascii: "u"), f.byte(at: 258) == UInt8(ascii: "s"),
           f.byte(at: 259) == UInt8(ascii: "t"), f.byte(at: 260) == UInt8(ascii: "a"), f.byte(at: 261) == UInt8(ascii: "r") {
            throw SegcError(.refused, "a tar archive (very old torch.save format) is not supported; re-save the model's state_dict with torch.save or export ONNX",
                            file: f.name)
        }
        if f.byte(at: 0) == 0x08 { return .onnx }
        if f.count == 0 { throw SegcError(.malformed, "empty file", file: f.name) }
        throw SegcError(.unsupported, "unrecognised file format (expected a PyTorch checkpoint, an ONNX model or a segc plan)",
                        file: f.name)
    }
}
