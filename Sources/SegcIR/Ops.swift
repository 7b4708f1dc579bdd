/// The typed operators of the IR (architecture.md §3). One payload struct per
/// op; inputs and outputs are listed in each case's comment, in order.
///
/// Spatial attributes are `(height, width)` pairs. Padding is
/// `(top, left, bottom, right)` so asymmetric ONNX pads fit.
package enum Op: Sendable, Hashable {
    /// inputs: x [N,Cin,H,W], weight [Cout,Cin/g,kh,kw], then bias [Cout] if `hasBias`,
    /// then the epilogue's operands (see `Epilogue`) ; output: y
    case conv2d(Conv2d)
    /// inputs: x [N,Cin,H,W], weight [Cin,Cout/g,kh,kw], then bias [Cout] if `hasBias`,
    /// then the epilogue's operands ; output: y
    case convTranspose2d(ConvTranspose2d)
    /// inputs: x, scale[C], bias[C], mean[C], var[C] ; output: y
    case batchNorm(BatchNorm)
    /// inputs: x [N,C,H,W], scale[C], bias[C], running mean[C], running var[C] (constants);
    /// outputs: y normalised with the batch's own per-channel mean and variance, and
    /// stats [2,C] = the updated running mean and variance (ONNX training_mode=1)
    case batchNormTraining(BatchNormTraining)
    /// inputs: x, scale[C], bias[C] ; output: x*scale[c]+bias[c] (folded BN after a concat)
    case channelAffine
    /// inputs: x ; output: max(x, 0)
    case relu
    /// inputs: x, slope ([C] or [1]) ; output: max(0,x) + slope*min(0,x)
    case prelu
    /// inputs: x ; output: 1/(1+exp(-x))
    case sigmoid
    /// inputs: a, b (numpy broadcasting) ; output
    case add, sub, mul, div
    /// inputs: x0, x1, ... ; output: concatenation along `axis`
    case concat(axis: Int)
    /// inputs: x ; outputs: y [, indices i64 (flat h*W_in+w within the (n,c) plane)]
    case maxPool2d(Pool2d)
    /// inputs: x ; output: y (count_include_pad per attribute)
    case avgPool2d(Pool2d)
    /// inputs: x, indices ; output: zeros of `outputSize` with x scattered at indices
    case maxUnpool2d(MaxUnpool2d)
    /// inputs: x ; output: mean over H and W, keepdim → [N,C,1,1]
    case globalAveragePool
    /// inputs: x ; output: resized to `outputSize` (H, W)
    case resize(Resize)
    /// inputs: x ; output: constant-padded, `pads` = [begin_0..begin_r-1, end_0..end_r-1]
    case pad(Pad)
    /// inputs: x ; output: softmax along `axis`
    case softmax(axis: Int)
    /// inputs: x (f32) ; output: x quantized and dequantized again (simulated int8,
    /// "fake quant"), exactly ONNX QuantizeLinear (round half to even, saturate)
    /// followed by DequantizeLinear with the same per-tensor parameters.
    case quantizeDequantize(QuantizeDequantize)
    /// inputs: x ; output: the same elements in row-major order, viewed as `shape`
    /// (ONNX Reshape/Flatten/Squeeze/Unsqueeze of a runtime tensor where a consumer or the
    /// graph output needs the new shape; a copy in the plan).
    case reshape(shape: [Int])
}

/// Activation applied in a conv epilogue.
package enum Activation: String, Sendable, Hashable {
    case none, relu, prelu
}

/// What the optimiser fused behind a convolution: `y = act(conv + bias + residual)`.
/// Extra inputs follow the bias in this order: PReLU slope (if `.prelu`), residual
/// (if `residual`). Builders emit `.none`; passes fill it in.
package struct Epilogue: Sendable, Hashable {
    package var activation: Activation = .none
    package var residual: Bool = false
    package init(activation: Activation = .none, residual: Bool = false) {
        self.activation = activation; self.residual = residual
    }
    package static let none = Epilogue()
}

package struct Conv2d: Sendable, Hashable {
    package var kh: Int, kw: Int
    package var strideH: Int, strideW: Int
    package var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    package var dilationH: Int, dilationW: Int
    package var groups: Int
    package var hasBias: Bool
    package var epilogue: Epilogue = .none

    package init(kh: Int, kw: Int, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                 dilation: (Int, Int) = (1, 1), groups: Int = 1, hasBias: Bool) {
        self.hasBias = hasBias
        self.kh = kh; self.kw = kw
        strideH = stride.0; strideW = stride.1
        padTop = padding.0; padBottom = padding.0; padLeft = padding.1; padRight = padding.1
        dilationH = dilation.0; dilationW = dilation.1
        self.groups = groups
    }

}

package struct ConvTranspose2d: Sendable, Hashable {
    package var kh: Int, kw: Int
    package var strideH: Int, strideW: Int
    package var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    package var outputPaddingH: Int, outputPaddingW: Int
    package var dilationH: Int, dilationW: Int
    package var groups: Int
    package var hasBias: Bool
    package var epilogue: Epilogue = .none

    package init(kh: Int, kw: Int, stride: (Int, Int), padding: (Int, Int), outputPadding: (Int, Int) = (0, 0),
                 dilation: (Int, Int) = (1, 1), groups: Int = 1, hasBias: Bool) {
        self.hasBias = hasBias
        self.kh = kh; self.kw = kw
        strideH = stride.0; strideW = stride.1
        padTop = padding.0; padBottom = padding.0; padLeft = padding.1; padRight = padding.1
        outputPaddingH = outputPadding.0; outputPaddingW = outputPadding.1
        dilationH = dilation.0; dilationW = dilation.1
        self.groups = groups
    }

}

package struct BatchNorm: Sendable, Hashable {
    package var epsilon: Float
    package init(epsilon: Float) { self.epsilon = epsilon }
}

package struct BatchNormTraining: Sendable, Hashable {
    package var epsilon: Float
    package var momentum: Float
    package init(epsilon: Float, momentum: Float) { self.epsilon = epsilon; self.momentum = momentum }
}

package struct Pool2d: Sendable, Hashable {
    package var kh: Int, kw: Int
    package var strideH: Int, strideW: Int
    package var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    package var dilationH: Int = 1, dilationW: Int = 1
    package var ceilMode: Bool
    /// max pool: also output the flat argmax indices (second output, i64).
    package var returnsIndices: Bool = false
    /// avg pool: count padded zeros in the divisor.
    package var countIncludePad: Bool = false

    package init(kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false, returnsIndices: Bool = false) {
        kh = kernel; kw = kernel; strideH = stride; strideW = stride
        padTop = padding; padLeft = padding; padBottom = padding; padRight = padding
        self.ceilMode = ceilMode; self.returnsIndices = returnsIndices
    }
}

package struct MaxUnpool2d: Sendable, Hashable {
    /// Output (H, W).
    package var outputH: Int, outputW: Int
    package init(outputH: Int, outputW: Int) { self.outputH = outputH; self.outputW = outputW }
}

package struct Resize: Sendable, Hashable {
    package enum Mode: String, Sendable, Hashable { case nearest, linear, cubic }
    package enum Coordinates: String, Sendable, Hashable {
        case halfPixel = "half_pixel", pytorchHalfPixel = "pytorch_half_pixel"
        case alignCorners = "align_corners", asymmetric
        case halfPixelSymmetric = "half_pixel_symmetric", tfCropAndResize = "tf_crop_and_resize"
    }
    /// The rest of ONNX Resize, for ONNX models that use it. `nil`: the coordinate
    /// transform uses the size ratio and no cubic/antialias/crop feature is used — the
    /// fast path the paper's networks take. Set, the op follows onnx's reference
    /// implementation (the runtime's general resize kernel).
    package struct General: Sendable, Hashable {
        /// Scale factors (H, W) of the coordinate transform (ONNX `scales`, or the common
        /// scale of `keep_aspect_ratio_policy`); they may differ from output/input.
        package var scaleH: Float, scaleW: Float
        package var cubicA: Float = -0.75
        package var excludeOutside = false
        package var antialias = false
        /// `tf_crop_and_resize`: ROI (start H, start W, end H, end W) in normalised input
        /// coordinates, and the value of outputs whose source lies outside the input.
        package var roi: [Float] = [0, 0, 1, 1]
        package var extrapolation: Float = 0
        package init(scaleH: Float, scaleW: Float) { self.scaleH = scaleH; self.scaleW = scaleW }
    }
    package enum NearestRounding: String, Sendable, Hashable {
        case floor, ceil, roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil"
    }
    package var mode: Mode
    package var coordinates: Coordinates
    package var nearest: NearestRounding
    package var outputH: Int, outputW: Int
    package var general: General?

    package init(mode: Mode, coordinates: Coordinates, nearest: NearestRounding = .floor, outputH: Int, outputW: Int,
                 general: General? = nil) {
        self.mode = mode; self.coordinates = coordinates; self.nearest = nearest
        self.outputH = outputH; self.outputW = outputW; self.general = general
    }
}

package struct Pad: Sendable, Hashable {
    package var pads: [Int]
    package var value: Float
    package init(pads: [Int], value: Float = 0) { self.pads = pads; self.value = value }
}

/// Per-tensor affine quantization parameters of an activation:
/// `y = (clamp(roundHalfToEven(x / scale) + zeroPoint, qmin, qmax) − zeroPoint) × scale`,
/// all in float32 like ONNX Runtime (`x / scale` is a float32 division).
/// uint8: `qmin` 0, `qmax` 255; int8: −128, 127. NaN quantizes to `qmin`.
package struct QuantizeDequantize: Sendable, Hashable {
    package var scale: Float
    package var zeroPoint: Int
    package var qmin: Int, qmax: Int

    package init(scale: Float, zeroPoint: Int, qmin: Int, qmax: Int) {
        self.scale = scale; self.zeroPoint = zeroPoint; self.qmin = qmin; self.qmax = qmax
    }

    /// uint8 (`signed == false`) or int8 range.
    package init(scale: Float, zeroPoint: Int, signed: Bool) {
        self.init(scale: scale, zeroPoint: zeroPoint, qmin: signed ? -128 : 0, qmax: signed ? 127 : 255)
    }

    /// The op on one value, float32 throughout (the kernels compute the same):
    /// `r = roundHalfToEven(x / scale)` clamped to `[qmin − zp, qmax − zp]`, times `scale`.
    @inline(__always)
    package func apply(_ x: Float) -> Float {
        let lo = Float(qmin - zeroPoint), hi = Float(qmax - zeroPoint)
        var r = (x / scale).rounded(.toNearestOrEven)
        r = r > lo ? r : lo          // NaN → lo (as ONNX Runtime's MLAS kernel)
        r = r < hi ? r : hi
        return r * scale
    }
}

extension Op {
    /// Stable lower-case name used in dumps, `inspect` histograms and plans.
    package var name: String {
        switch self {
        case .conv2d: return "conv2d"
        case .convTranspose2d: return "conv_transpose2d"
        case .batchNorm: return "batch_norm"
        case .batchNormTraining: return "batch_norm_training"
        case .channelAffine: return "channel_affine"
        case .relu: return "relu"
        case .prelu: return "prelu"
        case .sigmoid: return "sigmoid"
        case .add: return "add"
        case .sub: return "sub"
        case .mul: return "mul"
        case .div: return "div"
        case .concat: return "concat"
        case .maxPool2d: return "max_pool2d"
        case .avgPool2d: return "avg_pool2d"
        case .maxUnpool2d: return "max_unpool2d"
        case .globalAveragePool: return "global_average_pool"
        case .resize: return "resize"
        case .pad: return "pad"
        case .softmax: return "softmax"
        case .quantizeDequantize: return "quantize_dequantize"
        case .reshape: return "reshape"
        }
    }
}
