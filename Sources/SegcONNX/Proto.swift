import CONNXProto
import SegcCore
import SegcIR

/// Swift copies of the decoded protobuf messages (the C structures are freed
/// right after conversion).
struct PModel {
    var irVersion: Int64 = 0
    var opsets: [(domain: String, version: Int64)] = []
    var producer = ""
    var producerVersion = ""
    var nodes: [PNode] = []
    var initializers: [(name: String, tensor: Tensor, onnxType: Int32)] = []
    var sparseInitializers = 0
    var inputs: [PValueInfo] = []
    var outputs: [PValueInfo] = []
}

struct PNode {
    var index: Int
    var name: String
    var opType: String
    var domain: String
    var inputs: [String]
    var outputs: [String]
    var attrs: [String: PAttr]
}

enum PAttr {
    case f(Float), i(Int64), s(String), t(Tensor), floats([Float]), ints([Int64]), strings([String])
    case other(Int32)
}

enum PDim: Equatable {
    case value(Int64), param(String), unknown
}

struct PValueInfo {
    var name: String
    var elemType: Int32?
    var dims: [PDim]?
}

/// ONNX `TensorProto.DataType` codes segc reads.
enum ONNXType {
    static let float: Int32 = 1, uint8: Int32 = 2, int8: Int32 = 3, uint16: Int32 = 4, int16: Int32 = 5
    static let int32: Int32 = 6, int64: Int32 = 7, string: Int32 = 8, bool: Int32 = 9, float16: Int32 = 10
    static let double: Int32 = 11, uint32: Int32 = 12, uint64: Int32 = 13, bfloat16: Int32 = 16

    static func name(_ t: Int32) -> String {
        switch t {
        case float: return "float32"; case uint8: return "uint8"; case int8: return "int8"
        case uint16: return "uint16"; case int16: return "int16"; case int32: return "int32"
        case int64: return "int64"; case string: return "string"; case bool: return "bool"
        case float16: return "float16"; case double: return "float64"; case uint32: return "uint32"
        case uint64: return "uint64"; case bfloat16: return "bfloat16"
        default: return "data type \(t)"
        }
    }

    /// Bytes per element in `raw_data`, nil for types segc does not read.
    static func byteSize(_ t: Int32) -> Int? {
        switch t {
        case float, int32, uint32: return 4
        case int64, double, uint64: return 8
        case uint8, int8, bool: return 1
        case uint16, int16, float16, bfloat16: return 2
        default: return nil
        }
    }

    /// The IR dtype a tensor of ONNX type `t` is stored as (f16/bf16 widened,
    /// 16-bit integers and uint32 widened).
    static func irType(_ t: Int32) -> DType? {
        switch t {
        case float, float16, bfloat16: return .f32
        case double: return .f64
        case int64, uint32, uint64: return .i64
        case int32, int16, uint16: return .i32
        case int8: return .i8
        case uint8: return .u8
        case bool: return .bool
        default: return nil
        }
    }

    /// ONNX code for an IR dtype (for Cast targets and Shape).
    static func fromIR(_ d: DType) -> Int32 {
        switch d {
        case .f32: return float; case .f64: return double; case .i64: return int64; case .i32: return int32
        case .i16: return int16; case .i8, .qi8: return int8; case .u8, .qu8: return uint8; case .bool: return bool
        }
    }
}

func cString(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
}

func binaryString(_ b: ProtobufCBinaryData) -> String {
    guard let d = b.data, b.len > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: d, count: b.len), as: UTF8.self)
}

/// Converts the protobuf-c model into Swift values, decoding every initializer
/// (external data through `ExternalData`).
struct ProtoConverter {
    var file: String
    var external: ExternalData

    mutating func convert(_ m: UnsafePointer<Onnx__ModelProto>) throws(SegcError) -> PModel {
        var out = PModel()
        let model = m.pointee
        out.irVersion = model.has_ir_version != 0 ? model.ir_version : 0
        out.producer = cString(model.producer_name)
        out.producerVersion = cString(model.producer_version)
        for i in 0..<model.n_opset_import {
            guard let o = model.opset_import?[i] else { continue }
            out.opsets.append((cString(o.pointee.domain), o.pointee.has_version != 0 ? o.pointee.version : 0))
        }
        guard let g = model.graph?.pointee else {
            throw SegcError(.malformed, "the model has no graph", file: file)
        }
        out.sparseInitializers = g.n_sparse_initializer
        for i in 0..<g.n_initializer {
            guard let t = g.initializer?[i] else { continue }
            let name = cString(t.pointee.name)
            let (tensor, type) = try decodeTensor(t, what: "initializer '\(name)'")
            out.initializers.append((name, tensor, type))
        }
        for i in 0..<g.n_input { if let v = g.input?[i] { out.inputs.append(valueInfo(v)) } }
        for i in 0..<g.n_output { if let v = g.output?[i] { out.outputs.append(valueInfo(v)) } }
        for i in 0..<g.n_node {
            guard let np = g.node?[i] else { continue }
            let n = np.pointee
            var node = PNode(index: i, name: cString(n.name), opType: cString(n.op_type), domain: cString(n.domain),
                             inputs: [], outputs: [], attrs: [:])
            if node.name.isEmpty { node.name = "\(node.opType)_\(i)" }
            for k in 0..<n.n_input { node.inputs.append(cString(n.input?[k])) }
            for k in 0..<n.n_output { node.outputs.append(cString(n.output?[k])) }
            for k in 0..<n.n_attribute {
                guard let a = n.attribute?[k] else { continue }
                let name = cString(a.pointee.name)
                node.attrs[name] = try attribute(a, node: node.name, name: name)
            }
            out.nodes.append(node)
        }
        return out
    }

    func valueInfo(_ v: UnsafeMutablePointer<Onnx__ValueInfoProto>) -> PValueInfo {
        var info = PValueInfo(name: cString(v.pointee.name), elemType: nil, dims: nil)
        guard let tp = v.pointee.type, tp.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
              let tt = tp.pointee.tensor_type else { return info }
        if tt.pointee.has_elem_type != 0 { info.elemType = tt.pointee.elem_type }
        if let sh = tt.pointee.shape {
            var dims: [PDim] = []
            for i in 0..<sh.pointee.n_dim {
                guard let d = sh.pointee.dim?[i] else { dims.append(.unknown); continue }
                switch d.pointee.value_case {
                case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: dims.append(.value(d.pointee.dim_value))
                case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM: dims.append(.param(cString(d.pointee.dim_param)))
                default: dims.append(.unknown)
                }
            }
            info.dims = dims
        }
        return info
    }

    mutating func attribute(_ ap: UnsafeMutablePointer<Onnx__AttributeProto>, node: String, name: String) throws(SegcError) -> PAttr {
        let a = ap.pointee
        var type = a.has_type != 0 ? Int32(bitPattern: a.type.rawValue) : 0
        if type == 0 {  // very old files: infer from the filled field
            if a.t != nil { type = 4 } else if a.n_ints > 0 { type = 7 } else if a.n_floats > 0 { type = 6 }
            else if a.has_s != 0 { type = 3 } else if a.has_i != 0 { type = 2 } else if a.has_f != 0 { type = 1 }
        }
        switch type {
        case 1: return .f(a.f)
        case 2: return .i(a.i)
        case 3: return .s(binaryString(a.s))
        case 4:
            guard let t = a.t else { throw SegcError(.malformed, "attribute '\(name)' has no tensor", file: file, at: .node(node)) }
            return .t(try decodeTensor(t, what: "attribute '\(name)' of node '\(node)'").0)
        case 6:
            var v: [Float] = []
            for i in 0..<a.n_floats { if let p = a.floats { v.append(p[i]) } }
            return .floats(v)
        case 7:
            var v: [Int64] = []
            for i in 0..<a.n_ints { if let p = a.ints { v.append(p[i]) } }
            return .ints(v)
        case 8:
            var v: [String] = []
            for i in 0..<a.n_strings { if let p = a.strings { v.append(binaryString(p[i])) } }
            return .strings(v)
        default: return .other(type)
        }
    }

    mutating func decodeTensor(_ tp: UnsafeMutablePointer<Onnx__TensorProto>, what: String) throws(SegcError) -> (Tensor, Int32) {
        let t = tp.pointee
        func fail(_ kind: SegcError.Kind, _ m: String) -> SegcError { SegcError(kind, "\(what): \(m)", file: file) }
        let type: Int32 = t.has_data_type != 0 ? t.data_type : 0
        guard let irType = ONNXType.irType(type), let size = ONNXType.byteSize(type) else {
            throw fail(.unsupported, "tensors of \(ONNXType.name(type)) are not supported")
        }
        var shape: [Int] = []
        for i in 0..<t.n_dims {
            guard let d = t.dims?[i] else { continue }
            shape.append(try Checked.nonNegative(d, "\(what) dimension"))
        }
        let count: Int
        do { count = try Checked.elementCount(shape, what) } catch { throw error.inFile(file) }
        let bytes = try Checked.mul(count, size, "\(what) size")
        try Limits.check(bytes, Limits.maxAllocationBytes, "\(what) size in bytes")

        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            var entries: [String: String] = [:]
            for i in 0..<t.n_external_data {
                guard let e = t.external_data?[i] else { continue }
                entries[cString(e.pointee.key)] = cString(e.pointee.value)
            }
            let storage = try external.read(entries, count: count, elementSize: size, onnxType: type, what: what)
            return (Tensor(dtype: irType, shape: shape, storage: storage), type)
        }
        if t.has_raw_data != 0 {
            if t.raw_data.len != bytes {
                throw fail(.malformed, "raw_data has \(t.raw_data.len) bytes, expected \(bytes) (\(count) × \(size))")
            }
            let buf = UnsafeRawBufferPointer(start: t.raw_data.data, count: t.raw_data.len)
            return (Tensor(dtype: irType, shape: shape, storage: RawDecode.storage(buf, type: type, count: count)), type)
        }
        func check(_ n: Int, _ field: String) throws(SegcError) {
            if n != count { throw fail(.malformed, "\(field) has \(n) values, expected \(count)") }
        }
        let storage: TensorStorage
        switch type {
        case ONNXType.float:
            try check(t.n_float_data, "float_data")
            storage = .f32(count == 0 ? [] : Array(UnsafeBufferPointer(start: t.float_data, count: count)))
        case ONNXType.double:
            try check(t.n_double_data, "double_data")
            storage = .f64(count == 0 ? [] : Array(UnsafeBufferPointer(start: t.double_data, count: count)))
        case ONNXType.int64:
            try check(t.n_int64_data, "int64_data")
            storage = .i64(count == 0 ? [] : Array(UnsafeBufferPointer(start: t.int64_data, count: count)))
        case ONNXType.uint32, ONNXType.uint64:
            try check(t.n_uint64_data, "uint64_data")
            var v: [Int64] = []
            v.reserveCapacity(count)
            for i in 0..<count {
                let x = t.uint64_data?[i] ?? 0
                guard let y = Int64(exactly: x) else { throw fail(.unsupported, "uint64 value \(x) does not fit in int64") }
                v.append(y)
            }
            storage = .i64(v)
        default:
            try check(t.n_int32_data, "int32_data")
            let ints = count == 0 ? [] : Array(UnsafeBufferPointer(start: t.int32_data, count: count))
            switch type {
            case ONNXType.int32, ONNXType.int16, ONNXType.uint16: storage = .i32(ints)
            case ONNXType.int8: storage = .i8(ints.map { Int8(truncatingIfNeeded: $0) })
            case ONNXType.uint8: storage = .u8(ints.map { UInt8(truncatingIfNeeded: $0) })
            case ONNXType.bool: storage = .bool(ints.map { $0 != 0 })
            case ONNXType.float16: storage = .f32(ints.map { RawDecode.half(UInt16(truncatingIfNeeded: $0)) })
            case ONNXType.bfloat16: storage = .f32(ints.map { Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16) })
            default: throw fail(.unsupported, "tensors of \(ONNXType.name(type)) are not supported")
            }
        }
        return (Tensor(dtype: irType, shape: shape, storage: storage), type)
    }
}

/// Little-endian element decoding of `raw_data` and external data.
enum RawDecode {
    static func storage(_ b: UnsafeRawBufferPointer, type: Int32, count: Int) -> TensorStorage {
        func load<T>(_ t: T.Type) -> [T] {
            let size = MemoryLayout<T>.size
            return (0..<count).map { b.loadUnaligned(fromByteOffset: $0 * size, as: T.self) }
        }
        switch type {
        case ONNXType.float:
            let v = [Float](unsafeUninitializedCapacity: count) { dst, n in
                if count > 0, let base = dst.baseAddress, let src = b.baseAddress {
                    UnsafeMutableRawPointer(base).copyMemory(from: src, byteCount: count * 4)
                }
                n = count
            }
            return .f32(v)
        case ONNXType.double: return .f64(load(Double.self))
        case ONNXType.int64: return .i64(load(Int64.self))
        case ONNXType.uint64: return .i64(load(UInt64.self).map { Int64(truncatingIfNeeded: $0) })
        case ONNXType.uint32: return .i64(load(UInt32.self).map { Int64($0) })
        case ONNXType.int32: return .i32(load(Int32.self))
        case ONNXType.int16: return .i32(load(Int16.self).map { Int32($0) })
        case ONNXType.uint16: return .i32(load(UInt16.self).map { Int32($0) })
        case ONNXType.int8: return .i8(load(Int8.self))
        case ONNXType.uint8: return .u8(load(UInt8.self))
        case ONNXType.bool: return .bool(load(UInt8.self).map { $0 != 0 })
        case ONNXType.float16: return .f32(load(UInt16.self).map(half))
        case ONNXType.bfloat16: return .f32(load(UInt16.self).map { Float(bitPattern: UInt32($0) << 16) })
        default: return .u8([])
        }
    }

    /// IEEE binary16 → Float.
    static func half(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f)
        let man = UInt32(h & 0x3ff)
        if exp == 0 {
            if man == 0 { return Float(bitPattern: sign) }
            let v = Float(man) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (man << 13)) }
        return Float(bitPattern: sign | (UInt32(exp + 112) << 23) | (man << 13))
    }
}
