import SegcCore
import SegcIR

extension TorchCheckpoint {
    /// The legacy container (product.md §2.2).
    static func loadLegacy(_ fb: FileBytes) throws(SegcError) -> TorchCheckpoint {
        let file = fb.name
        let all = fb.buffer
        var pos = 0
        var heap = PickleHeap()

        func runPickle(_ what: String) throws(SegcError) -> PV {
            let remaining = all.count - pos
            let clamped = remaining > Limits.maxPickleBytes
            let len = clamped ? Limits.maxPickleBytes : remaining
            let slice = UnsafeRawBufferPointer(rebasing: all[pos..<(pos + len)])
            var vm = PickleVM(bytes: slice, baseOffset: pos, file: file, record: nil, mode: .legacy, clamped: clamped, heap: heap)
            let v: PV
            do { v = try vm.run() } catch {
                var e = error
                e.message = "\(what) pickle: " + e.message
                throw e
            }
            heap = vm.heap
            pos += vm.consumed
            return v
        }

        let magic = try runPickle("magic number")
        guard case .int(let m) = magic, m == 0x1950a86a20f9469cfc6c else {
            throw SegcError(.malformed, "first pickle is not the PyTorch legacy magic number", file: file, at: .offset(0))
        }
        let versionAt = pos
        let version = try runPickle("protocol version")
        guard case .int(let v) = version, v == 1001 else {
            throw SegcError(.unsupported, "legacy protocol version is not 1001", file: file, at: .offset(versionAt))
        }
        let sysAt = pos
        let sysInfo = try runPickle("sys_info")
        guard heap.dict(sysInfo) != nil else {
            throw SegcError(.malformed, "legacy sys_info is not a dict", file: file, at: .offset(sysAt))
        }
        let objectAt = pos
        let top = try runPickle("object")
        let keysAt = pos
        let keyList = try runPickle("storage key list")
        guard let keyItems = heap.seq(keyList) else {
            throw SegcError(.malformed, "legacy storage key list is not a list", file: file, at: .offset(keysAt))
        }
        if keyItems.count > Limits.maxLegacyStorages {
            throw SegcError(.limit, "legacy storages \(keyItems.count) exceed the limit of \(Limits.maxLegacyStorages)", file: file, at: .offset(keysAt))
        }
        var keys: [String] = []
        var seen = Set<String>()
        for k in keyItems {
            guard case .str(let s) = k else {
                throw SegcError(.malformed, "legacy storage key is not a string", file: file, at: .offset(keysAt))
            }
            if !seen.insert(s).inserted {
                throw SegcError(.malformed, "legacy storage key '\(s)' listed twice", file: file, at: .offset(keysAt))
            }
            keys.append(s)
        }
        if seen != Set(heap.storageOrder) {
            let missing = heap.storageOrder.filter { !seen.contains($0) }
            let extra = keys.filter { heap.storages[$0] == nil }
            throw SegcError(.malformed, "legacy storage key list does not match the referenced storages (missing \(missing.prefix(3)), unreferenced \(extra.prefix(3)))",
                            file: file, at: .offset(keysAt))
        }
        // Storages: int64 element count (LE) + data, in key-list order.
        var offsets: [String: Int] = [:]
        for key in keys {
            guard let info = heap.storages[key] else { continue }
            var cur = ByteCursor(all, file: file)
            try cur.seek(to: pos)
            let count = try cur.i64()
            if count != Int64(info.numel) {
                throw SegcError(.malformed, "legacy storage '\(key)' has \(count) elements, its persistent id says \(info.numel)",
                                file: file, at: .offset(pos))
            }
            let nbytes = try Checked.mul(info.numel, info.cls.elementSize, "storage size")
            let dataAt = pos + 8
            let end = try Checked.add(dataAt, nbytes, "storage end")
            if end > all.count {
                throw SegcError(.malformed, "legacy storage '\(key)' of \(nbytes) bytes runs past the end of the file",
                                file: file, at: .offset(pos))
            }
            offsets[key] = dataAt
            pos = end
        }
        if pos != all.count {
            throw SegcError(.malformed, "\(all.count - pos) trailing bytes after the last storage", file: file, at: .offset(pos))
        }
        return try assemble(format: "pth-legacy", heap: heap, top: top, file: file, at: .offset(objectAt)) { (desc, view) throws(SegcError) -> (TensorStorage, DType) in
            guard let at = offsets[view.key], let info = heap.storages[view.key] else {
                throw SegcError(.malformed, "storage '\(view.key)' has no data", file: file, at: .key(view.key))
            }
            let buf = UnsafeRawBufferPointer(rebasing: all[at..<(at + info.numel * info.cls.elementSize)])
            // torch writes and reads legacy storages little-endian whatever sys_info says.
            return TensorGather.tensor(desc, view: view, storage: StorageBytes(buffer: buf, bigEndian: false))
        }
    }

    /// Unwraps the state dict (product.md §2.3) and materialises its tensors.
    static func assemble(format: String, heap: PickleHeap, top: PV, file: String, at where: SegcError.Location,
                         _ materialize: (TensorDesc, StorageView) throws(SegcError) -> (TensorStorage, DType)) throws(SegcError) -> TorchCheckpoint {
        guard let root = heap.dict(top) else {
            throw SegcError(.unsupported, "the pickled object is not a dict (a state_dict or a checkpoint dict is expected)", file: file, at: `where`)
        }
        func hasTensors(_ d: PDict) -> Bool { d.values.contains { heap.tensorIndex($0) != nil } }
        var sd = root
        var wrapper: String?
        if !hasTensors(root) {
            let names = ["state_dict", "model_state_dict", "model", "net"]
            var found: (PDict, String)?
            outer: for n in names {
                guard let v = root.value(forString: n), let d = heap.dict(v) else { continue }
                if hasTensors(d) { found = (d, n); break }
                for m in names {
                    if let v2 = d.value(forString: m), let d2 = heap.dict(v2), hasTensors(d2) {
                        found = (d2, "\(n).\(m)")
                        break outer
                    }
                }
            }
            guard let found else {
                throw SegcError(.unsupported, "no state dict found: the top-level dict holds no tensors and none of 'state_dict', 'model_state_dict', 'model', 'net' is a dict of tensors", file: file, at: `where`)
            }
            sd = found.0
            wrapper = found.1
        }
        var keys: [String] = []
        keys.reserveCapacity(sd.count)
        for k in sd.keys {
            guard case .str(let s) = k else {
                throw SegcError(.malformed, "state dict has a key that is not a string", file: file, at: `where`)
            }
            keys.append(s)
        }
        var prefix: String?
        for p in ["module.", "_orig_mod."] where !keys.isEmpty && keys.allSatisfy({ $0.hasPrefix(p) }) {
            prefix = p
            break
        }
        var out: [(key: String, tensor: Tensor)] = []
        var dtypes: [String: String] = [:]
        for (i, full) in keys.enumerated() {
            guard let ti = heap.tensorIndex(sd.values[i]) else { continue }
            let key = prefix.map { String(full.dropFirst($0.count)) } ?? full
            do throws(SegcError) {
                let desc = heap.tensors[ti]
                let view = heap.views[desc.storage]
                let (storage, dtype) = try materialize(desc, view)
                var t = Tensor(dtype: dtype, shape: desc.size, storage: storage)
                if let q = desc.quant {
                    switch q {
                    case .perTensor(let s, let z):
                        t.quant = QuantParams(scales: [s], zeroPoints: [z], axis: nil)
                    case .perChannel(let si, let zi, let axis):
                        let sd = heap.tensors[si], zd = heap.tensors[zi]
                        let (ss, _) = try materialize(sd, heap.views[sd.storage])
                        let (zs, _) = try materialize(zd, heap.views[zd.storage])
                        let scales: [Double]
                        switch ss {
                        case .f64(let a): scales = a
                        case .f32(let a): scales = a.map(Double.init)
                        default: throw SegcError(.malformed, "per-channel scales are not floating point", file: file, at: .key(full))
                        }
                        let zps = Tensor(dtype: .i64, shape: zd.size, storage: zs).int64s()
                        t.quant = QuantParams(scales: scales, zeroPoints: zps, axis: axis)
                    }
                    try checkZeroPoints(t)
                }
                out.append((key, t))
                dtypes[key] = view.cls.torchDType
            } catch {
                throw error.inFile(file).at(.key(full))
            }
        }
        return TorchCheckpoint(format: format, tensors: out, torchDTypes: dtypes, wrapper: wrapper, strippedPrefix: prefix)
    }

    /// A quantized tensor's zero points lie in its storage's range, as PyTorch's quantize
    /// requires: dequantizing computes q − zp in Int64, which a hostile one (Int64.min) overflows.
    static func checkZeroPoints(_ t: Tensor) throws(SegcError) {
        let range: ClosedRange<Int64> = t.dtype == .qi8 ? -128...127 : 0...255
        if let z = t.quant?.zeroPoints.first(where: { !range.contains($0) }) {
            throw SegcError(.malformed, "quantized zero point \(z) outside \(range.lowerBound)...\(range.upperBound)")
        }
    }
}
