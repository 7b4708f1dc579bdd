import SegcCore
import SegcIR

/// A PyTorch checkpoint read into an ordered list of tensors
/// (product.md §2.1–2.5). Nothing is imported or executed.
package struct TorchCheckpoint: Sendable {
    /// `"pth-zip"` or `"pth-legacy"`.
    package var format: String
    /// State-dict order, after unwrapping and prefix stripping.
    package var tensors: [(key: String, tensor: Tensor)]
    /// key → torch dtype name (`float32`, `float16`, …, `qint8`, `quint8`).
    package var torchDTypes: [String: String]
    /// The wrapper key the state dict was found under (`state_dict`,
    /// `model.state_dict`, …), nil for a plain state dict.
    package var wrapper: String?
    /// `module.` or `_orig_mod.` when it was removed from every key.
    package var strippedPrefix: String?

    package init(format: String, tensors: [(key: String, tensor: Tensor)], torchDTypes: [String: String],
                 wrapper: String?, strippedPrefix: String?) {
        self.format = format; self.tensors = tensors; self.torchDTypes = torchDTypes
        self.wrapper = wrapper; self.strippedPrefix = strippedPrefix
    }

    /// The tensor of `key`, if present.
    package func tensor(_ key: String) -> Tensor? {
        tensors.first(where: { $0.key == key })?.tensor
    }

    package static func load(path: String) throws(SegcError) -> TorchCheckpoint {
        let fb = try FileBytes(contentsOf: path)
        return try load(fb)
    }

    package static func load(_ bytes: FileBytes) throws(SegcError) -> TorchCheckpoint {
        do throws(SegcError) {
            if bytes.hasPrefix([0x50, 0x4B, 0x03, 0x04]) { return try loadZip(bytes) }
            if let b0 = bytes.byte(at: 0), let b1 = bytes.byte(at: 1), b0 == 0x80, (2...5).contains(b1) {
                return try loadLegacy(bytes)
            }
            if bytes.hasPrefix(Array("SEGCPLAN".utf8)) {
                throw SegcError(.unsupported, "this is a segc plan, not a PyTorch checkpoint", at: .offset(0))
            }
            if bytes.count >= 262, bytes.byte(at: 257) == 0x75, bytes.byte(at: 258) == 0x73,
               bytes.byte(at: 259) == 0x74, bytes.byte(at: 260) == 0x61, bytes.byte(at: 261) == 0x72 {
                throw SegcError(.refused, "this is a tar archive (torch.save before 0.4?); re-save with torch.save(model.state_dict(), path) or export ONNX", at: .offset(0))
            }
            throw SegcError(.unsupported, "not a PyTorch checkpoint (neither a zip container nor a legacy pickle stream)", at: .offset(0))
        } catch {
            throw error.inFile(bytes.name)
        }
    }

    // MARK: zip

    private static func loadZip(_ fb: FileBytes) throws(SegcError) -> TorchCheckpoint {
        let zip = try ZipContainer(fb)
        let file = fb.name
        // version: .data/version first, as PyTorch's reader.
        guard let ve = zip.entry(".data/version") ?? zip.entry("version") else {
            throw SegcError(.malformed, "zip container has no 'version' record", file: file, at: .record("\(zip.root)/version"))
        }
        if ve.size > 64 { throw SegcError(.malformed, "version record is \(ve.size) bytes", file: file, at: .record(ve.name)) }
        let vtext = try asciiTrimmed(try zip.read(ve))
        guard let version = Int(vtext), (1...10).contains(version) else {
            throw SegcError(.unsupported, "container version '\(vtext)' (segc reads 1 to 10)", file: file, at: .record(ve.name))
        }
        var bigEndian = false
        if let be = zip.entry("byteorder") {
            if be.size > 64 { throw SegcError(.malformed, "byteorder record is \(be.size) bytes", file: file, at: .record(be.name)) }
            let t = try asciiTrimmed(try zip.read(be))
            switch t {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw SegcError(.malformed, "byteorder '\(t)' is neither 'little' nor 'big'", file: file, at: .record(be.name))
            }
        }
        guard let pe = zip.entry("data.pkl") else {
            throw SegcError(.malformed, "zip container has no 'data.pkl' record", file: file, at: .record("\(zip.root)/data.pkl"))
        }
        if pe.size > Limits.maxPickleBytes {
            throw SegcError(.limit, "data.pkl of \(pe.size) bytes exceeds the limit of \(Limits.maxPickleBytes)", file: file, at: .record(pe.name))
        }
        let pickle = try zip.read(pe)
        var heap = PickleHeap()
        let top: PV = try withBytes(pickle) { (buf) throws(SegcError) -> PV in
            var vm = PickleVM(bytes: buf, baseOffset: 0, file: file, record: "data.pkl", mode: .zip, clamped: false, heap: PickleHeap())
            let v = try vm.run()
            heap = vm.heap
            return v
        }
        // Every referenced storage must have a record of sufficient length.
        var records: [String: ZipContainer.Entry] = [:]
        for key in heap.storageOrder {
            guard let info = heap.storages[key] else { continue }
            guard let e = zip.entry("data/\(key)") else {
                throw SegcError(.malformed, "storage '\(key)' has no record", file: file, at: .record("\(zip.root)/data/\(key)"))
            }
            let need = try Checked.mul(info.numel, info.cls.elementSize, "storage size")
            if e.size < need {
                throw SegcError(.malformed, "storage record has \(e.size) bytes, \(need) needed for \(info.numel) \(info.cls.rawValue) elements",
                                file: file, at: .record(e.name))
            }
            records[key] = e
        }
        var cache: [String: EntryBytes] = [:]
        return try assemble(format: "pth-zip", heap: heap, top: top, file: file, at: .record("data.pkl")) { (desc, view) throws(SegcError) -> (TensorStorage, DType) in
            if cache[view.key] == nil {
                guard let e = records[view.key] else {
                    throw SegcError(.malformed, "storage '\(view.key)' has no record", file: file, at: .record("\(zip.root)/data/\(view.key)"))
                }
                cache[view.key] = try zip.bytes(e)
            }
            guard let data = cache[view.key] else { throw SegcError(.malformed, "storage '\(view.key)' unreadable", file: file, at: .record("\(zip.root)/data/\(view.key)")) }
            return try data.with { (buf) throws(SegcError) -> (TensorStorage, DType) in
                TensorGather.tensor(desc, view: view, storage: StorageBytes(buffer: buf, bigEndian: bigEndian))
            }
        }
    }

    private static func asciiTrimmed(_ b: [UInt8]) throws(SegcError) -> String {
        var s = String(decoding: b, as: UTF8.self)
        while let last = s.last, last == "\n" || last == "\r" || last == " " { s.removeLast() }
        return s
    }
}
