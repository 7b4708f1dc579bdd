import SegcCore

/// The allowlisted data constructors (product.md §2.4) and persistent ids.
extension PickleVM {
    mutating func call(_ callable: PV, _ argsValue: PV, op: String) throws(SegcError) -> PV {
        guard let g = heap.global(callable) else {
            throw fail(.unsupported, "\(op) of a value that is not an allowlisted global")
        }
        guard let args = heap.tuple(argsValue) else {
            throw fail(.malformed, "\(op) arguments of '\(g.name)' are not a tuple")
        }
        return try construct(g, args)
    }

    private func argCount(_ g: PickleGlobal, _ args: [PV], _ allowed: ClosedRange<Int>) throws(SegcError) {
        if !allowed.contains(args.count) {
            throw fail(.malformed, "'\(g.name)' called with \(args.count) arguments (expected \(allowed.lowerBound == allowed.upperBound ? "\(allowed.lowerBound)" : "\(allowed.lowerBound)–\(allowed.upperBound)"))")
        }
    }

    private func requireEmptyHooks(_ v: PV, _ g: PickleGlobal) throws(SegcError) {
        if case .none = v { return }
        guard let d = heap.dict(v), d.count == 0 else {
            throw fail(.unsupported, "'\(g.name)' with non-empty backward hooks")
        }
    }

    private func requireBool(_ v: PV, _ what: String) throws(SegcError) {
        guard case .bool = v else { throw fail(.malformed, "\(what) is not a bool") }
    }

    mutating func construct(_ g: PickleGlobal, _ args: [PV]) throws(SegcError) -> PV {
        switch g {
        case .orderedDict:
            try argCount(g, args, 0...1)
            let d = try newDict()
            if let first = args.first {
                // OrderedDict(iterable of pairs) — accepted for lists/tuples of 2-tuples.
                guard let pairs = heap.seq(first) else { throw fail(.malformed, "OrderedDict argument is not a sequence") }
                var flat: [PV] = []
                for p in pairs {
                    guard let kv = heap.tuple(p) ?? heap.seq(p), kv.count == 2 else {
                        throw fail(.malformed, "OrderedDict item is not a pair")
                    }
                    flat.append(kv[0]); flat.append(kv[1])
                }
                if case .ref(let r) = d, case .dict(let i) = heap.objects[r] {
                    let dd = childDepthOf(flat)
                    if dd > Limits.maxPickleNesting {
                        throw fail(.limit, "pickle value nesting \(dd) exceeds the limit of \(Limits.maxPickleNesting)")
                    }
                    heap.depth[r] = max(heap.depth[r], dd)
                    var k = 0
                    while k + 1 < flat.count { heap.dicts[i].set(flat[k], flat[k + 1]); k += 2 }
                }
            }
            return d

        case .rebuildTensorV2:
            try argCount(g, args, 6...7)
            try requireBool(args[4], "requires_grad")
            try requireEmptyHooks(args[5], g)
            return try makeTensor(storage: args[0], offset: args[1], size: args[2], stride: args[3], quant: nil)

        case .rebuildTensor:
            try argCount(g, args, 4...4)
            return try makeTensor(storage: args[0], offset: args[1], size: args[2], stride: args[3], quant: nil)

        case .rebuildParameter, .rebuildParameterWithState:
            try argCount(g, args, g == .rebuildParameter ? 3...3 : 4...4)
            guard heap.tensorIndex(args[0]) != nil else { throw fail(.malformed, "'\(g.name)' argument is not a tensor") }
            try requireBool(args[1], "requires_grad")
            guard heap.dict(args[2]) != nil || { if case .none = args[2] { return true }; return false }() else {
                throw fail(.malformed, "'\(g.name)' backward hooks are not a dict")
            }
            if g == .rebuildParameterWithState {
                let state = args[3]
                var empty = false
                if case .none = state { empty = true }
                if let d = heap.dict(state), d.count == 0 { empty = true }
                if !empty { throw fail(.unsupported, "'\(g.name)' with a non-empty state") }
            }
            return args[0]

        case .rebuildQTensor:
            try argCount(g, args, 7...7)
            try requireBool(args[5], "requires_grad")
            try requireEmptyHooks(args[6], g)
            let q = try qparams(args[4])
            return try makeTensor(storage: args[0], offset: args[1], size: args[2], stride: args[3], quant: q)

        case .rebuildFromTypeV2:
            try argCount(g, args, 4...4)
            guard let fn = heap.global(args[0]),
                  [.rebuildTensorV2, .rebuildTensor, .rebuildParameter, .rebuildParameterWithState, .rebuildQTensor].contains(fn)
            else { throw fail(.refused, "'\(g.name)' with a function that is not an allowlisted tensor rebuild") }
            guard let t = heap.global(args[1]), t == .typeTensor || t == .typeParameter else {
                throw fail(.refused, "'\(g.name)' with a type other than torch.Tensor or torch.nn.parameter.Parameter")
            }
            guard let inner = heap.tuple(args[2]) else { throw fail(.malformed, "'\(g.name)' arguments are not a tuple") }
            var empty = false
            if case .none = args[3] { empty = true }
            if let d = heap.dict(args[3]), d.count == 0 { empty = true }
            if !empty { throw fail(.unsupported, "'\(g.name)' with a non-empty state") }
            // One level only: the inner function is a tensor rebuild, which never calls back.
            return try construct(fn, inner)

        case .typeTensor, .typeParameter, .storage, .perTensorAffine, .perChannelAffine:
            throw fail(.refused, "'\(g.name)' may not be called (only used as an argument, see product.md §2.4)")

        case .device:
            try argCount(g, args, 1...2)
            _ = try str(args[0], "torch.device type")
            return try newObject(.inert(.device), depth: 0)

        case .size:
            try argCount(g, args, 0...1)
            let dims = args.isEmpty ? [] : try ints(args[0], "torch.Size")
            return try newTuple(dims.map { PV.int(Int128($0)) })

        case .set, .frozenset:
            try argCount(g, args, 0...1)
            let items: [PV]
            if let first = args.first {
                guard let s = heap.seq(first) else { throw fail(.malformed, "'\(g.name)' argument is not a list") }
                items = s
            } else { items = [] }
            let frozen = g == .frozenset
            return try newSeq(items) { .set($0, frozen: frozen) }

        case .bytes, .bytearray:
            try argCount(g, args, 0...2)
            if args.isEmpty { try countValue(); return .bytes([]) }
            switch args[0] {
            case .bytes(let b):
                try countValue(); return .bytes(b)
            case .str(let s):
                guard args.count == 2, case .str(let enc) = args[1] else {
                    throw fail(.malformed, "'\(g.name)' of a string needs an encoding")
                }
                return .bytes(try latin1(s, enc))
            default:
                guard let items = heap.seq(args[0]) else { throw fail(.malformed, "'\(g.name)' argument is not bytes") }
                var out: [UInt8] = []
                out.reserveCapacity(items.count)
                for x in items {
                    let v = try int(x, "byte value")
                    guard let b = UInt8(exactly: v) else { throw fail(.malformed, "byte value \(v) out of range") }
                    out.append(b)
                }
                try countValue()
                return .bytes(out)
            }

        case .codecsEncode:
            try argCount(g, args, 2...2)
            let s = try str(args[0], "_codecs.encode text")
            let enc = try str(args[1], "_codecs.encode encoding")
            return .bytes(try latin1(s, enc))

        case .numpyDType:
            try argCount(g, args, 1...3)
            let code = try str(args[0], "numpy.dtype code")
            let known: Set<String> = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "b1",
                                      "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
            guard known.contains(code) else { throw fail(.unsupported, "numpy dtype '\(code)'") }
            return try newObject(.inert(.numpyDType), depth: 0)

        case .numpyScalar:
            try argCount(g, args, 1...2)
            guard case .inert(.numpyDType)? = heap.obj(args[0]) else {
                throw fail(.malformed, "numpy scalar without a numpy dtype")
            }
            if args.count == 2 {
                guard case .bytes(let b) = args[1], b.count <= 8 else { throw fail(.malformed, "numpy scalar data is not bytes of a scalar") }
            }
            return try newObject(.inert(.numpyScalar), depth: 0)
        }
    }

    private mutating func countValue() throws(SegcError) {
        heap.created += 1
        if heap.created > Limits.maxPickleObjects {
            throw fail(.limit, "pickle objects \(heap.created) exceed the limit of \(Limits.maxPickleObjects)")
        }
    }

    private func childDepthOf(_ items: [PV]) -> Int {
        var d = 0
        for v in items { d = max(d, heap.depthOf(v)) }
        return d + 1
    }

    private func latin1(_ s: String, _ enc: String) throws(SegcError) -> [UInt8] {
        guard enc == "latin1" || enc == "latin-1" else {
            throw fail(.unsupported, "bytes encoded as '\(enc)' (only latin1 is accepted)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            guard u.value < 256 else { throw fail(.malformed, "latin1 text with a character above U+00FF") }
            out.append(UInt8(u.value))
        }
        return out
    }

    // MARK: quantization parameters

    private func qparams(_ v: PV) throws(SegcError) -> QuantDesc {
        guard let t = heap.tuple(v), let first = t.first, let scheme = heap.global(first) else {
            throw fail(.malformed, "quantizer parameters are not a (qscheme, …) tuple")
        }
        switch scheme {
        case .perTensorAffine:
            guard t.count == 3 else { throw fail(.malformed, "per_tensor_affine parameters need (qscheme, scale, zero_point)") }
            let scale: Double
            switch t[1] {
            case .float(let d): scale = d
            case .int(let i): scale = Double(i)
            default: throw fail(.malformed, "per_tensor_affine scale is not a number")
            }
            guard scale.isFinite else { throw fail(.malformed, "per_tensor_affine scale \(scale) is not finite") }
            guard case .int(let zi) = t[2], let zp = Int64(exactly: zi) else {
                throw fail(.malformed, "per_tensor_affine zero point is not an integer")
            }
            return .perTensor(scale: scale, zeroPoint: zp)
        case .perChannelAffine:
            guard t.count == 4 else { throw fail(.malformed, "per_channel_affine parameters need (qscheme, scales, zero_points, axis)") }
            guard let s = heap.tensorIndex(t[1]), let z = heap.tensorIndex(t[2]) else {
                throw fail(.malformed, "per_channel_affine scales and zero points must be tensors")
            }
            if heap.tensors[s].quant != nil || heap.tensors[z].quant != nil {
                throw fail(.malformed, "per_channel_affine scales or zero points are quantized")
            }
            let axis = try int(t[3], "per_channel_affine axis")
            return .perChannel(scales: s, zeroPoints: z, axis: axis)
        default:
            throw fail(.unsupported, "qscheme '\(scheme.name)' (segc supports per_tensor_affine and per_channel_affine)")
        }
    }

    // MARK: tensors

    private mutating func makeTensor(storage: PV, offset: PV, size: PV, stride: PV, quant: QuantDesc?) throws(SegcError) -> PV {
        guard case .storage(let sv)? = heap.obj(storage) else { throw fail(.malformed, "tensor storage is not a storage reference") }
        let view = heap.views[sv]
        let off = try int(offset, "storage offset")
        let sz = try ints(size, "tensor size")
        let st = try ints(stride, "tensor stride")
        if sz.count > Limits.maxTensorRank {
            throw fail(.limit, "tensor rank \(sz.count) exceeds the limit of \(Limits.maxTensorRank)")
        }
        if sz.count != st.count { throw fail(.malformed, "tensor size has rank \(sz.count) but stride has \(st.count)") }
        if off < 0 { throw fail(.malformed, "negative storage offset \(off)") }
        for s in st where s < 0 { throw fail(.malformed, "negative stride \(s)") }
        let n: Int
        do { n = try Checked.elementCount(sz, "tensor") } catch { throw fail(error.kind, error.message) }
        let outBytes = n.multipliedReportingOverflow(by: max(view.cls.importedDType.byteSize, 1))
        if outBytes.overflow || outBytes.partialValue > Limits.maxAllocationBytes {
            throw fail(.limit, "tensor of \(n) elements exceeds the allocation limit of \(Limits.maxAllocationBytes) bytes")
        }
        if view.cls.isQuantized != (quant != nil) {
            throw fail(.malformed, quant == nil ? "quantized storage \(view.cls.rawValue) in a plain tensor rebuild"
                                                : "quantized tensor on non-quantized storage \(view.cls.rawValue)")
        }
        if n > 0 {
            // offset + Σ (size_i − 1) · stride_i < numel, overflow-checked.
            var last = off
            for (d, s) in zip(sz, st) {
                let (p, o1) = (d - 1).multipliedReportingOverflow(by: s)
                let (q, o2) = last.addingReportingOverflow(p)
                if o1 || o2 { throw fail(.malformed, "tensor view extent overflows") }
                last = q
            }
            if last >= view.numel {
                throw fail(.malformed, "tensor view (offset \(off), size \(sz), stride \(st)) reaches element \(last) of a storage of \(view.numel) elements")
            }
        }
        if case .perChannel(let s, let z, let axis)? = quant {
            if axis < 0 || axis >= sz.count { throw fail(.malformed, "per_channel_affine axis \(axis) out of range for rank \(sz.count)") }
            let channels = sz[axis]
            let sd = heap.tensors[s], zd = heap.tensors[z]
            let sn = sd.size.count == 1 ? sd.size[0] : -1
            let zn = zd.size.count == 1 ? zd.size[0] : -1
            if sn != channels || zn != channels {
                throw fail(.malformed, "per_channel_affine scales/zero points have shapes \(sd.size)/\(zd.size), expected [\(channels)]")
            }
            let sc = heap.views[sd.storage].cls, zc = heap.views[zd.storage].cls
            if ![.double, .float, .half, .bfloat16].contains(sc) { throw fail(.malformed, "per_channel_affine scales stored as \(sc.rawValue)") }
            if ![.long, .int, .short, .char, .byte].contains(zc) { throw fail(.malformed, "per_channel_affine zero points stored as \(zc.rawValue)") }
        }
        heap.tensors.append(TensorDesc(storage: sv, offset: off, size: sz, stride: st, quant: quant))
        return try newObject(.tensor(heap.tensors.count - 1), depth: 0)
    }

    // MARK: persistent ids

    mutating func persistentLoad(_ pid: PV) throws(SegcError) -> PV {
        guard let t = heap.tuple(pid), let tag = t.first, case .str("storage") = tag else {
            throw fail(.unsupported, "persistent id is not a ('storage', …) tuple")
        }
        let expected = mode == .zip ? 5 : 6
        guard t.count == expected else {
            throw fail(.malformed, "storage persistent id has \(t.count) fields (expected \(expected))")
        }
        guard let g = heap.global(t[1]), case .storage(let cls) = g else {
            if let g = heap.global(t[1]) { throw fail(.unsupported, "storage type '\(g.name)'") }
            throw fail(.malformed, "storage persistent id without a storage class")
        }
        let key = try str(t[2], "storage key")
        _ = try str(t[3], "storage location")
        let numel = try int(t[4], "storage element count")
        if numel < 0 { throw fail(.malformed, "storage '\(key)' has a negative element count \(numel)") }
        let bytes = numel.multipliedReportingOverflow(by: cls.elementSize)
        if bytes.overflow || bytes.partialValue > Limits.maxAllocationBytes {
            throw fail(.limit, "storage '\(key)' of \(numel) elements exceeds the allocation limit of \(Limits.maxAllocationBytes) bytes")
        }
        if let known = heap.storages[key] {
            if known.cls != cls || known.numel != numel {
                throw fail(.malformed, "storage '\(key)' referenced as \(known.cls.rawValue)[\(known.numel)] and as \(cls.rawValue)[\(numel)]")
            }
        } else {
            if mode == .legacy && heap.storages.count >= Limits.maxLegacyStorages {
                throw fail(.limit, "legacy storages \(heap.storages.count + 1) exceed the limit of \(Limits.maxLegacyStorages)")
            }
            heap.storages[key] = (cls, numel)
            heap.storageOrder.append(key)
        }
        var view = StorageView(key: key, cls: cls, elementOffset: 0, numel: numel)
        if mode == .legacy, case .ref = t[5] {
            guard let vm = heap.tuple(t[5]), vm.count == 3 else { throw fail(.malformed, "legacy view metadata is not (key, offset, numel)") }
            _ = try str(vm[0], "view key")
            let vo = try int(vm[1], "view offset")
            let vn = try int(vm[2], "view element count")
            let (end, o) = vo.addingReportingOverflow(vn)
            if vo < 0 || vn < 0 || o || end > numel {
                throw fail(.malformed, "storage view \(vo)..<\(vo &+ vn) lies outside storage '\(key)' of \(numel) elements")
            }
            view.elementOffset = vo
            view.numel = vn
        } else if mode == .legacy {
            guard case .none = t[5] else { throw fail(.malformed, "legacy view metadata is not None or a tuple") }
        }
        heap.views.append(view)
        return try newObject(.storage(heap.views.count - 1), depth: 0)
    }
}
