import SegcCore
import SegcPlan

/// A small plan touching most op kinds, with weights and a source map.
enum Fixture {
    static func align(_ x: Int) -> Int { (x + 63) / 64 * 64 }

    struct WeightBuilder {
        var bytes: [UInt8] = []
        var seed: UInt32 = 1
        mutating func add(_ shape: [Int]) -> WeightRef {
            while bytes.count % 64 != 0 { bytes.append(0) }
            let off = bytes.count
            for _ in 0..<shape.reduce(1, *) {
                seed = seed &* 1_664_525 &+ 1_013_904_223
                let f = Float(Int(seed >> 16) % 2001 - 1000) / 1000
                for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: f.bitPattern >> (8 * i))) }
            }
            return WeightRef(offset: off, dtype: .f32, shape: shape)
        }
    }

    static func plan() -> PlanFile {
        var w = WeightBuilder()
        let types: [(PlanDType, [Int])] = [
            (.f32, [1, 3, 8, 8]),   // 0 input
            (.f32, [1, 4, 8, 8]),   // 1 conv
            (.f32, [1, 4, 4, 4]),   // 2 maxpool
            (.i64, [1, 4, 4, 4]),   // 3 indices
            (.f32, [1, 4, 8, 8]),   // 4 unpool
            (.f32, [1, 4, 8, 8]),   // 5 add
            (.f32, [1, 2, 16, 16]), // 6 convT
            (.f32, [1, 2, 8, 8]),   // 7 resize
            (.f32, [1, 6, 8, 8]),   // 8 concat
            (.f32, [1, 6, 5, 5]),   // 9 avgpool ceil
            (.f32, [1, 6, 5, 5]),   // 10 affine
            (.f32, [1, 6, 6, 6]),   // 11 pad
            (.f32, [1, 6, 6, 6]),   // 12 mul
            (.f32, [1, 6, 6, 6]),   // 13 sigmoid
            (.f32, [1, 6, 6, 6]),   // 14 softmax (output)
        ]
        var values: [PlanValue] = []
        var arena = 0
        for (dt, s) in types {
            values.append(PlanValue(dtype: dt, shape: s, arenaOffset: arena))
            arena = align(arena + s.reduce(1, *) * dt.byteSize)
        }
        var ops: [PlanOp] = []
        let cw = w.add([4, 3, 3, 3]), cb = w.add([4]), cs = w.add([4])
        ops.append(PlanOp(kind: .conv2d, inputs: [0], outputs: [1], weights: [cw, cb, cs],
                          ints: [3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0], algorithm: .gemm))
        ops.append(PlanOp(kind: .maxPool2d, inputs: [1], outputs: [2, 3], ints: [2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0, 1]))
        ops.append(PlanOp(kind: .maxUnpool2d, inputs: [2, 3], outputs: [4], ints: [8, 8]))
        ops.append(PlanOp(kind: .add, inputs: [4, 1], outputs: [5]))
        let tw = w.add([4, 2, 3, 3])
        ops.append(PlanOp(kind: .convTranspose2d, inputs: [5], outputs: [6], weights: [tw],
                          ints: [3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0], algorithm: .direct))
        ops.append(PlanOp(kind: .resize, inputs: [6], outputs: [7], ints: [1, 1, 0, 8, 8]))
        ops.append(PlanOp(kind: .concat, inputs: [7, 5], outputs: [8], ints: [1]))
        ops.append(PlanOp(kind: .avgPool2d, inputs: [8], outputs: [9], ints: [3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0]))
        let sc = w.add([6]), bi = w.add([6])
        ops.append(PlanOp(kind: .channelAffine, inputs: [9], outputs: [10], weights: [sc, bi]))
        ops.append(PlanOp(kind: .pad, inputs: [10], outputs: [11], ints: [0, 0, 1, 0, 0, 0, 0, 1], floats: [-0.5]))
        let mb = w.add([6, 1, 1])
        ops.append(PlanOp(kind: .mul, inputs: [11], outputs: [12], weights: [mb]))
        ops.append(PlanOp(kind: .sigmoid, inputs: [12], outputs: [13]))
        ops.append(PlanOp(kind: .softmax, inputs: [13], outputs: [14], ints: [1]))

        var m = PlanMetadata()
        m.architecture = "test-net"
        m.sourceFile = "tést \"net\".pth"
        m.sourceFormat = "pth-zip"
        m.sourceSHA256 = String(repeating: "ab", count: 32)
        m.classes = 6
        m.classNames = ["road", "sidewalk", "car", "ünïcode", "tab\there", "void"]
        m.inputShape = [1, 3, 8, 8]
        m.outputShape = [1, 6, 6, 6]
        m.mean = [0.485, 0.456, 0.406]
        m.std = [0.229, 0.224, 0.225]
        m.temperature = 1.25
        m.passes = ["fold-batchnorm", "fuse-epilogue"]
        m.quantization = .object(["method": .string("entropy"), "calibration": .number(30),
                                  "fp32_layers": .array([.string("conv1")]), "ok": .bool(true), "none": .null])
        let graph = PlanGraph(values: values, ops: ops, input: 0, output: 14, arenaBytes: arena)
        return PlanFile(metadata: m, graph: graph, weights: PlanWeights(owned: w.bytes),
                        sourceMap: (0..<ops.count).map { "node_\($0)" })
    }

    static func le<T: FixedWidthInteger>(_ b: [UInt8], _ at: Int, _: T.Type) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: b[at + i]) << (8 * i) }
        return v
    }

    static func put<T: FixedWidthInteger>(_ b: inout [UInt8], _ at: Int, _ v: T) {
        for i in 0..<MemoryLayout<T>.size { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }

    /// Recomputes every checksum (sections, table, header) after an edit.
    static func reseal(_ b: inout [UInt8]) {
        let count = Int(le(b, 24, UInt32.self))
        for k in 0..<count {
            let e = 64 + 32 * k
            let off = Int(le(b, e + 8, UInt64.self)), len = Int(le(b, e + 16, UInt64.self))
            put(&b, e + 24, PlanChecksum.crc32c(Array(b[off..<(off + len)])))
        }
        put(&b, 40, PlanChecksum.crc32c(Array(b[64..<(64 + 32 * count)])))
        put(&b, 60, PlanChecksum.crc32c(Array(b[0..<60])))
    }

    /// (offset, length) of a section of a well-formed plan.
    static func section(_ b: [UInt8], _ tag: String) -> (Int, Int)? {
        let count = Int(le(b, 24, UInt32.self))
        for k in 0..<count {
            let e = 64 + 32 * k
            if String(decoding: b[e..<(e + 4)], as: UTF8.self) == tag {
                return (Int(le(b, e + 8, UInt64.self)), Int(le(b, e + 16, UInt64.self)))
            }
        }
        return nil
    }
}
