import SegcCore

/// The in-memory form of a plan (product.md §4; byte layout in Docs/PlanFormat.md).
/// `SegcPlan` knows nothing of the IR: `SegcLower` builds these values from a
/// graph, `PlanWriter` serialises them, `PlanReader` verifies and rebuilds them,
/// and `SegcRuntime` executes them.
package struct PlanFile: Sendable {
    package var metadata: PlanMetadata
    package var graph: PlanGraph
    /// Contents of the `WGHT` section. Weight references are offsets into it.
    package var weights: PlanWeights
    /// `SRCM`: for each op, where it came from (IR node / state-dict key / ONNX node).
    package var sourceMap: [String]

    package init(metadata: PlanMetadata, graph: PlanGraph, weights: PlanWeights, sourceMap: [String]) {
        self.metadata = metadata; self.graph = graph; self.weights = weights; self.sourceMap = sourceMap
    }

    /// Op `i`'s source name (`SRCM`), nil when the map does not reach it; callers name such
    /// an op their own way ("op 7", "op7" in layer lists).
    package func sourceName(_ i: Int) -> String? { i < sourceMap.count ? sourceMap[i] : nil }
}

/// Weight bytes: either owned (writer side) or a verified slice of a mapped file
/// (reader side, no copy). Every `WeightRef` lies inside and is 64-byte aligned.
package struct PlanWeights: @unchecked Sendable {
    // @unchecked: `storage` is immutable after init (FileBytes is immutable; the
    // array is a value).
    package enum Storage { case owned([UInt8]), mapped(FileBytes, offset: Int, count: Int) }
    package let storage: Storage

    package init(owned: [UInt8]) { storage = .owned(owned) }
    package init(mapped file: FileBytes, offset: Int, count: Int) { storage = .mapped(file, offset: offset, count: count) }

    package var count: Int {
        switch storage {
        case .owned(let a): return a.count
        case .mapped(_, _, let n): return n
        }
    }

    /// Calls `body` with the raw bytes of the section.
    package func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .owned(let a): return try a.withUnsafeBytes(body)
        case .mapped(let f, let off, let n): return try body(UnsafeRawBufferPointer(start: f.base + off, count: n))
        }
    }
}

/// Element types that plans store (activations and weights).
package enum PlanDType: UInt8, Sendable, Hashable {
    case f32 = 1, i64 = 2, i8 = 3, u8 = 4, i32 = 5
    package var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .i64: return 8
        case .i8, .u8: return 1
        }
    }
}

/// A weight tensor inside `WGHT`: byte offset (multiple of 64), dtype, shape.
package struct WeightRef: Sendable, Hashable {
    package var offset: Int
    package var dtype: PlanDType
    package var shape: [Int]
    package init(offset: Int, dtype: PlanDType, shape: [Int]) { self.offset = offset; self.dtype = dtype; self.shape = shape }
    package var elementCount: Int { shape.reduce(1, *) }
    package var byteCount: Int { elementCount * dtype.byteSize }
}

/// An activation value: dtype, shape and its byte offset in the arena.
package struct PlanValue: Sendable, Hashable {
    package var dtype: PlanDType
    package var shape: [Int]
    /// Byte offset of the value in the session's arena (64-byte aligned).
    package var arenaOffset: Int
    package init(dtype: PlanDType, shape: [Int], arenaOffset: Int) {
        self.dtype = dtype; self.shape = shape; self.arenaOffset = arenaOffset
    }
    package var elementCount: Int { shape.reduce(1, *) }
    package var byteCount: Int { elementCount * dtype.byteSize }
}

/// Op codes as stored in `GRPH`. Never renumber; add new codes at the end.
package enum PlanOpKind: UInt16, Sendable, Hashable, CaseIterable {
    case conv2d = 1
    case convTranspose2d = 2
    case maxPool2d = 3
    case avgPool2d = 4
    case maxUnpool2d = 5
    case globalAveragePool = 6
    case resize = 7
    case add = 8
    case sub = 9
    case mul = 10
    case div = 11
    case relu = 12
    case prelu = 13
    case sigmoid = 14
    case concat = 15
    case channelAffine = 16
    case pad = 17
    case softmax = 18
    case quantizeDequantize = 19
    case reshape = 20
    case batchNormTraining = 21
    /// Real int8 (issue 14): float32 → uint8 with a per-tensor scale and zero point.
    case quantize = 22
    /// uint8 → float32.
    case dequantize = 23
    /// uint8 conv2d with int8 weights, int32 bias and a fused requantization.
    case qconv2d = 24
    /// uint8 conv_transpose2d, as qconv2d.
    case qconvTranspose2d = 25
    /// Per-channel affine (+ relu) from uint8 to uint8 (a BatchNorm that could not be folded).
    case qchannelAffine = 26

    package var name: String {
        switch self {
        case .conv2d: return "conv2d"
        case .convTranspose2d: return "conv_transpose2d"
        case .maxPool2d: return "max_pool2d"
        case .avgPool2d: return "avg_pool2d"
        case .maxUnpool2d: return "max_unpool2d"
        case .globalAveragePool: return "global_average_pool"
        case .resize: return "resize"
        case .add: return "add"
        case .sub: return "sub"
        case .mul: return "mul"
        case .div: return "div"
        case .relu: return "relu"
        case .prelu: return "prelu"
        case .sigmoid: return "sigmoid"
        case .concat: return "concat"
        case .channelAffine: return "channel_affine"
        case .pad: return "pad"
        case .softmax: return "softmax"
        case .quantizeDequantize: return "quantize_dequantize"
        case .reshape: return "reshape"
        case .batchNormTraining: return "batch_norm_training"
        case .quantize: return "quantize"
        case .dequantize: return "dequantize"
        case .qconv2d: return "qconv2d"
        case .qconvTranspose2d: return "qconv_transpose2d"
        case .qchannelAffine: return "qchannel_affine"
        }
    }
}

extension PlanOpKind {
    /// The real int8 ops of `segc quantize` (uint8 activations, int8 weights).
    package var isRealInt8: Bool {
        switch self {
        case .quantize, .dequantize, .qconv2d, .qconvTranspose2d, .qchannelAffine: return true
        default: return false
        }
    }
}

/// Activation layout of an op's output (a plan-time decision; architecture.md §3).
package enum PlanLayout: UInt8, Sendable, Hashable {
    case nchw = 0
}

/// Algorithm chosen for an op at lowering time.
package enum PlanAlgorithm: UInt8, Sendable, Hashable {
    /// The op's only implementation (non-conv ops).
    case `default` = 0
    /// im2col (skipped for 1x1/stride 1) + sgemm, tiled over output pixels.
    case gemm = 1
    /// Direct loops (tiny channel counts).
    case direct = 2
    /// im2col + GEMM with the reference interpreter's arithmetic (multiply then add in
    /// (ci, ky, kx) order, then bias, then residual): bit-identical at every kernel level
    /// and for every pixel position. Lowering chooses it for every conv upstream of an
    /// index-returning max pool (`PlanGraph.opsFeedingIndexPools`), whose ties must
    /// break exactly as in the reference (ENet, networks.md §2).
    case exact = 3
}

/// One op. Attribute vectors follow a fixed schema per kind (`PlanOpSchema`):
///
/// | kind | ints | floats | inputs | weights |
/// |---|---|---|---|---|
/// | conv2d | kh kw sh sw pt pl pb pr dh dw groups hasBias activation residual | – | x [residual] | w [bias] [slope] |
/// | convTranspose2d | kh kw sh sw pt pl pb pr oph opw dh dw groups hasBias activation residual | – | x [residual] | w [bias] [slope] |
/// | maxPool2d | kh kw sh sw pt pl pb pr dh dw ceil returnsIndices | – | x | – (outputs y [indices]) |
/// | avgPool2d | kh kw sh sw pt pl pb pr dh dw ceil countIncludePad | – | x | – |
/// | maxUnpool2d | outH outW | – | x indices | – |
/// | globalAveragePool, relu, sigmoid | – | – | x | – |
/// | resize | mode coordinates nearest outH outW | – | x | – |
/// | add sub mul div | – | – | a b, or a with b in weights | [b] |
/// | prelu | – | – | x | slope |
/// | concat | axis | – | x0 x1 … | – |
/// | channelAffine | – | – | x | scale bias |
/// | pad | pads (2×rank) | value | x | – |
/// | softmax | axis | – | x | – |
/// | quantizeDequantize | zeroPoint qmin qmax | scale | x | – |
///
/// activation: 0 none, 1 relu, 2 prelu. resize mode: 0 nearest, 1 linear;
/// coordinates: 0 half_pixel, 1 pytorch_half_pixel, 2 align_corners, 3 asymmetric;
/// nearest: 0 floor, 1 ceil, 2 round_prefer_floor, 3 round_prefer_ceil.
/// | quantize, dequantize | zeroPoint | scale | x | – |
/// | qconv2d | conv2d's 14, then xZeroPoint yZeroPoint residualZeroPoint outputF32 | residualMultiplier | x [residual] | w(i8) bias(i32) multiplier [slope] |
/// | qconvTranspose2d | convTranspose2d's 16, then the same 4 | residualMultiplier | x [residual] | w(i8) bias(i32) multiplier [slope] |
/// | qchannelAffine | xZeroPoint yZeroPoint relu | – | x | multiplier addend |
///
/// quantizeDequantize (simulated int8): `y = (clamp(round_half_even(x / scale) + zeroPoint,
/// qmin, qmax) − zeroPoint) · scale` in float32.
package struct PlanOp: Sendable, Hashable {
    package var kind: PlanOpKind
    package var inputs: [Int]
    package var outputs: [Int]
    package var weights: [WeightRef]
    package var ints: [Int64]
    package var floats: [Float]
    package var layout: PlanLayout
    package var algorithm: PlanAlgorithm

    package init(kind: PlanOpKind, inputs: [Int], outputs: [Int], weights: [WeightRef] = [], ints: [Int64] = [],
                 floats: [Float] = [], layout: PlanLayout = .nchw, algorithm: PlanAlgorithm = .default) {
        self.kind = kind; self.inputs = inputs; self.outputs = outputs; self.weights = weights
        self.ints = ints; self.floats = floats; self.layout = layout; self.algorithm = algorithm
    }
}

package struct PlanGraph: Sendable, Hashable {
    package var values: [PlanValue]
    package var ops: [PlanOp]
    package var input: Int
    package var output: Int
    /// Size of the activation arena in bytes (every `arenaOffset + byteCount` fits).
    package var arenaBytes: Int

    package init(values: [PlanValue], ops: [PlanOp], input: Int, output: Int, arenaBytes: Int) {
        self.values = values; self.ops = ops; self.input = input; self.output = output; self.arenaBytes = arenaBytes
    }
}

/// One further graph output: its name, GRPH value index, shape and dtype.
package struct PlanExtraOutput: Sendable, Hashable {
    package var name: String
    package var value: Int
    package var shape: [Int]
    package var dtype: String
    package init(name: String, value: Int, shape: [Int], dtype: String) {
        self.name = name; self.value = value; self.shape = shape; self.dtype = dtype
    }
}

/// One entry of `range_guard` (int8 plans): plan op `op` writes a uint8 tensor, and a frame
/// for which more than `limit` of its codes sit at 255 has gone past what the calibration
/// images drove that tensor to (`max`: the most any calibration image saturated), so its
/// int8 answer clips what may be the anomaly. Measured by `segc quantize`.
package struct PlanRangeLimit: Sendable, Hashable {
    package var op: Int
    package var max: Int
    package var limit: Int
    package init(op: Int, max: Int, limit: Int) { self.op = op; self.max = max; self.limit = limit }
}

/// One entry of `value_grids` (int8 plans): uint8 value `value` stands for the real numbers
/// (q − zeroPoint) · scale. What the float twin of an int8 plan (`SegcModel.floatTwin`) needs
/// to turn int8 weights and requantization multipliers back into float weights.
package struct PlanValueGrid: Sendable, Hashable {
    package var value: Int
    package var scale: Float
    package var zeroPoint: Int
    package init(value: Int, scale: Float, zeroPoint: Int) { self.value = value; self.scale = scale; self.zeroPoint = zeroPoint }
}

/// `META` (product.md §4.3). Serialised as UTF-8 JSON with sorted keys.
package struct PlanMetadata: Sendable, Hashable {
    package var producer: String = "segc 0.1.0"
    package var architecture: String = "unknown"
    package var sourceFile: String = ""
    package var sourceFormat: String = ""
    package var sourceSHA256: String = ""
    package var classes: Int = 0
    package var classNames: [String] = []
    package var inputShape: [Int] = []
    /// `input.dtype` (`float32`, …) and `input.layout` (`NCHW`).
    package var inputDType: String = "float32"
    package var inputLayout: String = "NCHW"
    package var outputShape: [Int] = []
    /// `output.dtype`.
    package var outputDType: String = "float32"
    package var color: String = "RGB"
    package var resize: String = "bilinear"
    package var scale: Double = 1.0 / 255.0
    package var mean: [Double] = [0, 0, 0]
    package var std: [Double] = [1, 1, 1]
    package var precision: String = "fp32"
    package var temperature: Double = 1.0
    package var passes: [String] = []
    /// `output.name`: the graph output's name in the source model (empty: unnamed).
    package var outputName: String = ""
    /// `extra_outputs`: further graph outputs (ONNX models with several outputs), each a
    /// GRPH value kept alive to the end of the run. Absent (empty) for the usual one output.
    package var extraOutputs: [PlanExtraOutput] = []
    /// `range_guard`: per uint8 op, how many saturated codes a frame may have before it is
    /// out of the calibrated range (`SegcSession.checksRange`). Empty: no guard (fp32 plans,
    /// int8 plans made before it existed).
    package var rangeGuard: [PlanRangeLimit] = []
    /// `value_grids`: the grid of every uint8 value (int8 plans from `segc quantize`); empty
    /// when absent (then the plan has no float twin).
    package var valueGrids: [PlanValueGrid] = []
    /// `quantization` and `pruning` (§4.3): free-form JSON objects, absent when `nil`.
    package var quantization: PlanJSON? = nil
    package var pruning: PlanJSON? = nil

    package init() {}
}
