import SegcCore

/// A pickle value. Containers live in the `PickleHeap` and are referenced by
/// index (`.ref`), so mutation through the memo behaves as in Python and no
/// value is recursive (nothing recurses on input depth, not even deallocation).
enum PV: Sendable {
    case none
    case bool(Bool)
    case int(Int128)
    case float(Double)
    case str(String)
    case bytes([UInt8])
    case ref(Int)
}

/// An allowlisted global (product.md §2.4). Every one is a data constructor
/// implemented by segc; nothing is imported or called.
enum PickleGlobal: Sendable, Equatable {
    case orderedDict
    case rebuildTensorV2, rebuildTensor, rebuildParameter, rebuildParameterWithState, rebuildQTensor
    case rebuildFromTypeV2
    case typeTensor, typeParameter
    case storage(StorageClass)
    case perTensorAffine, perChannelAffine
    case device, size
    case set, frozenset, bytes, bytearray, codecsEncode
    case numpyScalar, numpyDType

    var name: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensor: return "torch._utils._rebuild_tensor"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .rebuildQTensor: return "torch._utils._rebuild_qtensor"
        case .rebuildFromTypeV2: return "torch._tensor._rebuild_from_type_v2"
        case .typeTensor: return "torch.Tensor"
        case .typeParameter: return "torch.nn.parameter.Parameter"
        case .storage(let c): return "torch.\(c.rawValue)"
        case .perTensorAffine: return "torch.per_tensor_affine"
        case .perChannelAffine: return "torch.per_channel_affine"
        case .device: return "torch.device"
        case .size: return "torch.Size"
        case .set: return "builtins.set"
        case .frozenset: return "builtins.frozenset"
        case .bytes: return "builtins.bytes"
        case .bytearray: return "builtins.bytearray"
        case .codecsEncode: return "_codecs.encode"
        case .numpyScalar: return "numpy.core.multiarray.scalar"
        case .numpyDType: return "numpy.dtype"
        }
    }

    /// The allowlist table, after Python 2 name mapping.
    static func lookup(module: String, name: String) -> PickleGlobal? {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor"): return .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): return .rebuildParameterWithState
        case ("torch._utils", "_rebuild_qtensor"): return .rebuildQTensor
        case ("torch._tensor", "_rebuild_from_type_v2"): return .rebuildFromTypeV2
        case ("torch", "Tensor"): return .typeTensor
        case ("torch.nn.parameter", "Parameter"): return .typeParameter
        case ("torch", "per_tensor_affine"): return .perTensorAffine
        case ("torch", "per_channel_affine"): return .perChannelAffine
        case ("torch", "device"): return .device
        case ("torch", "Size"): return .size
        case ("builtins", "set"): return .set
        case ("builtins", "frozenset"): return .frozenset
        case ("builtins", "bytes"): return .bytes
        case ("builtins", "bytearray"): return .bytearray
        case ("_codecs", "encode"): return .codecsEncode
        case ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"): return .numpyScalar
        case ("numpy", "dtype"): return .numpyDType
        case ("torch", _):
            if let c = StorageClass(rawValue: name) { return .storage(c) }
            return nil
        default: return nil
        }
    }

    /// Python 2 module names as `pickle`'s `fix_imports` maps them.
    static func mapPython2(_ module: String) -> String {
        switch module {
        case "__builtin__": return "builtins"
        case "copy_reg": return "copyreg"
        // Not in the allowlist either way; mapped so that refusals name the module the
        // user knows (a Python 3 pickler writes subprocess as `commands` in protocol 2).
        case "commands": return "subprocess"
        default: return module
        }
    }
}

/// A view of a storage: `numel` elements of `cls` starting at element
/// `elementOffset` of the root storage `key` (legacy views; 0 otherwise).
struct StorageView: Sendable {
    var key: String
    var cls: StorageClass
    var elementOffset: Int
    var numel: Int
}

enum QuantDesc: Sendable {
    case perTensor(scale: Double, zeroPoint: Int64)
    /// `scales` and `zeroPoints` are tensor indices in the heap.
    case perChannel(scales: Int, zeroPoints: Int, axis: Int)
}

/// A tensor as the pickle describes it: a strided view of a storage view.
/// Bounds were checked when it was built.
struct TensorDesc: Sendable {
    var storage: Int
    var offset: Int
    var size: [Int]
    var stride: [Int]
    var quant: QuantDesc?
}

/// Inert values: things the allowlist lets through but segc never uses.
enum InertKind: Sendable, Equatable {
    case device, numpyScalar, numpyDType
}

enum PObj: Sendable {
    case list(Int)
    case tuple(Int)
    case set(Int, frozen: Bool)
    case dict(Int)
    case global(PickleGlobal)
    case storage(Int)
    case tensor(Int)
    case inert(InertKind)
}

enum DictKey: Hashable, Sendable {
    case str(String)
    case int(Int128)
    case none
    case bool(Bool)
}

/// Insertion-ordered dict. String/int keys replace in place as in Python;
/// other keys (tuples…) are appended without deduplication.
struct PDict: Sendable {
    var keys: [PV] = []
    var values: [PV] = []
    var index: [DictKey: Int] = [:]

    mutating func set(_ k: PV, _ v: PV) {
        let dk: DictKey?
        switch k {
        case .str(let s): dk = .str(s)
        case .int(let i): dk = .int(i)
        case .none: dk = DictKey.none
        case .bool(let b): dk = .bool(b)
        default: dk = nil
        }
        if let dk, let i = index[dk] {
            values[i] = v
            return
        }
        if let dk { index[dk] = keys.count }
        keys.append(k)
        values.append(v)
    }

    func value(forString s: String) -> PV? {
        if let i = index[.str(s)] { return values[i] }
        return nil
    }

    var count: Int { keys.count }
}

/// Every object created while unpickling; shared by the pickles of one file
/// (the legacy container's pickles all register storages here).
struct PickleHeap: Sendable {
    var objects: [PObj] = []
    /// Container nesting depth of each object (0 for non-containers).
    var depth: [Int] = []
    var seqs: [[PV]] = []
    var dicts: [PDict] = []
    var tensors: [TensorDesc] = []
    var views: [StorageView] = []
    /// Root storages by key: class and element count, first-seen order.
    var storages: [String: (cls: StorageClass, numel: Int)] = [:]
    var storageOrder: [String] = []
    /// Values created, for `Limits.maxPickleObjects`.
    var created = 0

    func obj(_ v: PV) -> PObj? {
        if case .ref(let r) = v, r >= 0, r < objects.count { return objects[r] }
        return nil
    }

    func depthOf(_ v: PV) -> Int {
        if case .ref(let r) = v, r >= 0, r < depth.count { return depth[r] }
        return 0
    }

    func dict(_ v: PV) -> PDict? {
        if case .dict(let i)? = obj(v) { return dicts[i] }
        return nil
    }

    func seq(_ v: PV) -> [PV]? {
        switch obj(v) {
        case .tuple(let i)?, .list(let i)?, .set(let i, _)?: return seqs[i]
        default: return nil
        }
    }

    func tuple(_ v: PV) -> [PV]? {
        if case .tuple(let i)? = obj(v) { return seqs[i] }
        return nil
    }

    func tensorIndex(_ v: PV) -> Int? {
        if case .tensor(let i)? = obj(v) { return i }
        return nil
    }

    func global(_ v: PV) -> PickleGlobal? {
        if case .global(let g)? = obj(v) { return g }
        return nil
    }
}
