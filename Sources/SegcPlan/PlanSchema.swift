/// Attribute indices and counts per op kind (the table on `PlanOp`;
/// Docs/PlanFormat.md §6). Counts are checked exactly by the reader.
package enum PlanOpSchema {
    /// conv2d ints.
    package enum Conv {
        package static let kh = 0, kw = 1, strideH = 2, strideW = 3
        package static let padTop = 4, padLeft = 5, padBottom = 6, padRight = 7
        package static let dilationH = 8, dilationW = 9, groups = 10
        package static let hasBias = 11, activation = 12, residual = 13
        package static let count = 14
    }

    /// convTranspose2d ints.
    package enum ConvTranspose {
        package static let kh = 0, kw = 1, strideH = 2, strideW = 3
        package static let padTop = 4, padLeft = 5, padBottom = 6, padRight = 7
        package static let outputPaddingH = 8, outputPaddingW = 9
        package static let dilationH = 10, dilationW = 11, groups = 12
        package static let hasBias = 13, activation = 14, residual = 15
        package static let count = 16
    }

    /// maxPool2d / avgPool2d ints; `flag` is returnsIndices (max) or countIncludePad (avg).
    package enum Pool {
        package static let kh = 0, kw = 1, strideH = 2, strideW = 3
        package static let padTop = 4, padLeft = 5, padBottom = 6, padRight = 7
        package static let dilationH = 8, dilationW = 9, ceil = 10, flag = 11
        package static let count = 12
    }

    package enum Unpool {
        package static let outH = 0, outW = 1
        package static let count = 2
    }

    /// Resize ints: mode, coordinates, nearest, outH, outW — the plain form. The general
    /// form (ONNX Resize in full) adds excludeOutside, antialias and 8 floats: scale H,
    /// scale W, cubic a, extrapolation value, ROI start H, start W, end H, end W.
    package enum Resize {
        package static let mode = 0, coordinates = 1, nearest = 2, outH = 3, outW = 4
        package static let count = 5
        package static let excludeOutside = 5, antialias = 6
        package static let generalCount = 7
        package static let scaleH = 0, scaleW = 1, cubicA = 2, extrapolation = 3, roi = 4
        package static let generalFloatCount = 8
    }

    /// quantizeDequantize ints (floats: [scale]).
    package enum QuantizeDequantize {
        package static let zeroPoint = 0, qmin = 1, qmax = 2
        package static let count = 3
        package static let scale = 0
        package static let floatCount = 1
    }

    /// quantize / dequantize ints (floats: [scale]).
    package enum Quantize {
        package static let zeroPoint = 0
        package static let count = 1
        package static let scale = 0
        package static let floatCount = 1
    }

    /// The 4 ints qconv2d / qconvTranspose2d append to their float conv's ints
    /// (offsets from `Conv.count` / `ConvTranspose.count`); floats: [residual multiplier].
    package enum QConv {
        package static let xZeroPoint = 0, yZeroPoint = 1, residualZeroPoint = 2, outputF32 = 3
        package static let extra = 4
        package static let residualMultiplier = 0
        package static let floatCount = 1
    }

    /// qchannelAffine ints.
    package enum QAffine {
        package static let xZeroPoint = 0, yZeroPoint = 1, relu = 2
        package static let count = 3
    }

    /// Conv epilogue activation codes.
    package enum Activation {
        package static let none: Int64 = 0, relu: Int64 = 1, prelu: Int64 = 2
    }

    /// Number of int attributes of `kind` (pad: 2 × the input rank).
    package static func intCount(_ kind: PlanOpKind, inputRank: Int) -> Int {
        switch kind {
        case .conv2d: return Conv.count
        case .convTranspose2d: return ConvTranspose.count
        case .maxPool2d, .avgPool2d: return Pool.count
        case .maxUnpool2d: return Unpool.count
        case .resize: return Resize.count
        case .concat, .softmax: return 1
        case .quantizeDequantize: return QuantizeDequantize.count
        case .quantize, .dequantize: return Quantize.count
        case .qconv2d: return Conv.count + QConv.extra
        case .qconvTranspose2d: return ConvTranspose.count + QConv.extra
        case .qchannelAffine: return QAffine.count
        case .reshape: return -1  // the output's rank (1…8): checked in PlanShapeInference
        case .pad: return 2 * inputRank
        case .globalAveragePool, .add, .sub, .mul, .div, .relu, .prelu, .sigmoid, .channelAffine, .batchNormTraining: return 0
        }
    }

    package static func floatCount(_ kind: PlanOpKind) -> Int {
        switch kind {
        case .pad: return 1
        case .quantizeDequantize: return QuantizeDequantize.floatCount
        case .quantize, .dequantize: return Quantize.floatCount
        case .qconv2d, .qconvTranspose2d: return QConv.floatCount
        case .batchNormTraining: return 2  // epsilon, momentum
        default: return 0
        }
    }
}
