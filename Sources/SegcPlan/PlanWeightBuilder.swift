/// Builds a new `WGHT` section: weights copied from a source plan (each once) and new
/// tensors (int8 weights, int32 biases, multipliers), every one 64-byte aligned. Used by the
/// int8 pass (`SegcQuantize`) and by the float twin of an int8 plan (`SegcRuntime`).
package struct PlanWeightBuilder {
    package private(set) var bytes: [UInt8] = []
    private var copied: [WeightRef: WeightRef] = [:]
    package let source: PlanWeights

    package init(source: PlanWeights) { self.source = source }

    /// `ref` of the source plan, copied once.
    package mutating func copy(_ ref: WeightRef) -> WeightRef {
        if let r = copied[ref] { return r }
        var chunk = [UInt8](repeating: 0, count: ref.byteCount)
        source.withBytes { raw in
            chunk.withUnsafeMutableBytes { dst in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[ref.offset..<(ref.offset + ref.byteCount)])) }
        }
        let r = append(chunk, dtype: ref.dtype, shape: ref.shape)
        copied[ref] = r
        return r
    }

    /// The float32 elements of a source weight.
    package func floats(_ ref: WeightRef) -> [Float] {
        precondition(ref.dtype == .f32)
        return source.withBytes { raw in
            (0..<ref.elementCount).map { raw.load(fromByteOffset: ref.offset + 4 * $0, as: Float.self) }
        }
    }

    package mutating func add(_ v: [Float], shape: [Int]) -> WeightRef {
        append(v.withUnsafeBytes { Array($0) }, dtype: .f32, shape: shape)
    }
    package mutating func add(_ v: [Int8], shape: [Int]) -> WeightRef {
        append(v.withUnsafeBytes { Array($0) }, dtype: .i8, shape: shape)
    }
    package mutating func add(_ v: [Int32], shape: [Int]) -> WeightRef {
        append(v.withUnsafeBytes { Array($0) }, dtype: .i32, shape: shape)
    }

    private mutating func append(_ chunk: [UInt8], dtype: PlanDType, shape: [Int]) -> WeightRef {
        let offset = (bytes.count + 63) & ~63
        bytes.append(contentsOf: [UInt8](repeating: 0, count: offset - bytes.count))
        bytes.append(contentsOf: chunk)
        return WeightRef(offset: offset, dtype: dtype, shape: shape)
    }
}

extension PlanWeightBuilder {
    /// The int8 elements of a source weight.
    package func int8s(_ ref: WeightRef) -> [Int8] {
        precondition(ref.dtype == .i8)
        return source.withBytes { raw in (0..<ref.elementCount).map { raw.load(fromByteOffset: ref.offset + $0, as: Int8.self) } }
    }

    /// The int32 elements of a source weight.
    package func int32s(_ ref: WeightRef) -> [Int32] {
        precondition(ref.dtype == .i32)
        return source.withBytes { raw in (0..<ref.elementCount).map { raw.load(fromByteOffset: ref.offset + 4 * $0, as: Int32.self) } }
    }
}
