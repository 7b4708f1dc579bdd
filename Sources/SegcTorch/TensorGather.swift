import SegcCore
import SegcIR

/// Raw bytes of one root storage and how to read them.
struct StorageBytes {
    /// At least `numel × elementSize` bytes (checked by the container reader).
    let buffer: UnsafeRawBufferPointer
    let bigEndian: Bool
}

/// Builds contiguous row-major tensors from strided views (product.md §2.5).
enum TensorGather {
    /// Calls `body(dst, src)` for every element of the view in row-major order.
    /// Precondition (checked when the view was built): every source index is
    /// below the storage's element count, so no arithmetic here can overflow.
    @inline(__always)
    static func fill<T>(_ d: TensorDesc, base: Int, count n: Int, _ read: (Int) -> T) -> [T] {
        if n == 0 { return [] }
        return [T](unsafeUninitializedCapacity: n) { buf, initialized in
            let rank = d.size.count
            if rank == 0 {
                buf.initializeElement(at: 0, to: read(base + d.offset))
                initialized = 1
                return
            }
            let inner = d.size[rank - 1]
            let innerStride = d.stride[rank - 1]
            var idx = [Int](repeating: 0, count: rank)
            var start = base + d.offset
            var dst = 0
            while true {
                var src = start
                for _ in 0..<inner {
                    buf.initializeElement(at: dst, to: read(src))
                    dst += 1
                    src += innerStride
                }
                var k = rank - 2
                while k >= 0 {
                    idx[k] += 1
                    start += d.stride[k]
                    if idx[k] < d.size[k] { break }
                    start -= d.stride[k] * d.size[k]
                    idx[k] = 0
                    k -= 1
                }
                if k < 0 || dst >= n { break }
            }
            initialized = dst
        }
    }

    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1F)
        let mant = UInt32(h & 0x3FF)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            // Subnormal: mant × 2^-24, exact in float32.
            let v = Float(mant) * Float(bitPattern: 0x3380_0000) // 2^-24
            return sign != 0 ? -v : v
        }
        if exp == 31 {
            return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
        }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }

    /// Materialises one tensor. `storage` holds the root storage; the view's
    /// element offset is added here.
    static func tensor(_ d: TensorDesc, view: StorageView, storage: StorageBytes) -> (TensorStorage, DType) {
        let n = d.size.reduce(1) { $0 * $1 } // bounded by Limits.maxTensorElements (checked at build)
        let p = storage.buffer
        let be = storage.bigEndian
        let base = view.elementOffset
        switch view.cls {
        case .float:
            if !be && isContiguous(d) {
                let start = (base + d.offset) * 4
                let a = [Float](unsafeUninitializedCapacity: n) { buf, count in
                    if n > 0, let dst = buf.baseAddress, let src = p.baseAddress {
                        UnsafeMutableRawPointer(dst).copyMemory(from: src + start, byteCount: n * 4)
                    }
                    count = n
                }
                return (.f32(a), .f32)
            }
            return (.f32(fill(d, base: base, count: n) { i in
                let raw = p.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                return Float(bitPattern: be ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw))
            }), .f32)
        case .half:
            return (.f32(fill(d, base: base, count: n) { i in
                let raw = p.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                return halfToFloat(be ? UInt16(bigEndian: raw) : UInt16(littleEndian: raw))
            }), .f32)
        case .bfloat16:
            return (.f32(fill(d, base: base, count: n) { i in
                let raw = p.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                return Float(bitPattern: UInt32(be ? UInt16(bigEndian: raw) : UInt16(littleEndian: raw)) << 16)
            }), .f32)
        case .double:
            return (.f64(fill(d, base: base, count: n) { i in
                let raw = p.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                return Double(bitPattern: be ? UInt64(bigEndian: raw) : UInt64(littleEndian: raw))
            }), .f64)
        case .long:
            return (.i64(fill(d, base: base, count: n) { i in
                let raw = p.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                return Int64(bitPattern: be ? UInt64(bigEndian: raw) : UInt64(littleEndian: raw))
            }), .i64)
        case .int:
            return (.i32(fill(d, base: base, count: n) { i in
                let raw = p.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                return Int32(bitPattern: be ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw))
            }), .i32)
        case .short:
            return (.i32(fill(d, base: base, count: n) { i in
                let raw = p.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                return Int32(Int16(bitPattern: be ? UInt16(bigEndian: raw) : UInt16(littleEndian: raw)))
            }), .i32)
        case .char, .qint8:
            let a = fill(d, base: base, count: n) { i in Int8(bitPattern: p[i]) }
            return (.i8(a), view.cls == .qint8 ? .qi8 : .i8)
        case .byte, .quint8:
            let a = fill(d, base: base, count: n) { i in p[i] }
            return (.u8(a), view.cls == .quint8 ? .qu8 : .u8)
        case .bool:
            return (.bool(fill(d, base: base, count: n) { i in p[i] != 0 }), .bool)
        }
    }

    static func isContiguous(_ d: TensorDesc) -> Bool {
        var expected = 1
        for k in stride(from: d.size.count - 1, through: 0, by: -1) {
            if d.size[k] != 1 && d.stride[k] != expected { return false }
            expected *= d.size[k]
        }
        return true
    }
}

/// `withUnsafeBytes` that keeps the typed error.
func withBytes<R>(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(SegcError) -> R) throws(SegcError) -> R {
    let r: Result<R, SegcError> = a.withUnsafeBytes { buf in
        do throws(SegcError) { return .success(try body(buf)) } catch { return .failure(error) }
    }
    return try r.get()
}
