#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore
import SegcIR

/// The reference interpreter: simple, obviously-correct loops for every op of
/// the IR. Passes, lowering and the runtime are all tested against it.
///
/// Numerics (documented choices; results are compared to PyTorch with a tolerance of
/// `1e-4·max(1, max|ref|)`):
/// - convolutions accumulate in `Float` in natural order (input channel, ky, kx) into
///   a zeroed output, then the epilogue adds the bias, then the residual, then applies
///   the activation (ReLU, or PReLU with per-channel or scalar slope);
/// - batch norm is computed the way PyTorch's CPU inference path does it, in `Float`:
///   `alpha = weight · (1 / sqrt(var + eps))`, `beta = bias − mean · alpha`,
///   `y = x · alpha + beta`;
/// - average pooling sums in `Float` in window order; global average pooling sums in
///   `Double` and rounds the mean once;
/// - resize coordinates are computed in `Float` like PyTorch (`scale = in/out`);
/// - softmax subtracts the maximum, sums the exponentials in `Float`;
/// - quantize-dequantize (simulated int8) is ONNX QuantizeLinear then DequantizeLinear in
///   `Float`: `x / scale`, round half to even, clamp to `[qmin − zp, qmax − zp]`, `× scale`.
///
/// Values of integer dtypes (e.g. pooling indices) are held internally as `[Int64]`;
/// every other value as `[Float]` (quantized constants are dequantized).
package enum ReferenceInterpreter {
    /// Runs `graph` on `inputs` (in `graph.inputs` order, each row-major with exactly
    /// the input's element count) and returns the graph outputs in `graph.outputs`
    /// order. Integer outputs are converted to `Float`. The graph is verified first.
    package static func run(_ graph: Graph, inputs: [[Float]]) throws(SegcError) -> [[Float]] {
        try evaluate(graph, inputs: inputs, values: graph.outputs)
    }

    /// Like `run`, but returns the given values (any value ids: intermediate
    /// activations, constants, inputs or outputs), in order.
    package static func evaluate(_ graph: Graph, inputs: [[Float]], values wanted: [ValueID]) throws(SegcError) -> [[Float]] {
        try graph.verify()
        for v in wanted where v.index < 0 || v.index >= graph.values.count {
            throw SegcError(.usage, "value id \(v) out of range")
        }
        if inputs.count != graph.inputs.count {
            throw SegcError(.mismatch, "graph has \(graph.inputs.count) inputs, \(inputs.count) given")
        }
        var store = [Buffer?](repeating: nil, count: graph.values.count)
        for (k, v) in graph.inputs.enumerated() {
            let t = graph.type(of: v)
            let data = inputs[k]
            if data.count != t.elementCount {
                throw SegcError(.mismatch, "input \(k) has \(data.count) elements, \(t) needs \(t.elementCount)",
                                at: .key(graph.values[v.index].name))
            }
            if isIntegerType(t.dtype) {
                var ints = [Int64](repeating: 0, count: data.count)
                for i in 0..<data.count {
                    guard let x = Int64(exactly: data[i].rounded(.towardZero)) else {
                        throw SegcError(.mismatch, "input \(k) element \(i) is not representable as an integer",
                                        at: .key(graph.values[v.index].name))
                    }
                    ints[i] = x
                }
                store[v.index] = .ints(ints)
            } else {
                store[v.index] = .floats(data)
            }
        }

        // Free each activation after its last use, so whole networks at 512x1024 fit.
        var keep = [Bool](repeating: false, count: graph.values.count)
        for v in wanted { keep[v.index] = true }
        var lastUse = [Int](repeating: -1, count: graph.values.count)
        for (k, node) in graph.nodes.enumerated() {
            for v in node.inputs { lastUse[v.index] = k }
        }

        func operand(_ v: ValueID) -> Buffer {
            if let b = store[v.index] { return b }
            if let t = graph.constants[v] { return constantBuffer(t) }
            return .floats([])  // unreachable after verify()
        }

        for (k, node) in graph.nodes.enumerated() {
            let ins = node.inputs.map(operand)
            let inTypes = node.inputs.map { graph.type(of: $0) }
            let outTypes = node.outputs.map { graph.type(of: $0) }
            let outs: [Buffer]
            do {
                outs = try execute(node.op, ins, inTypes, outTypes)
            } catch {
                throw error.at(.node(node.name))
            }
            for (i, v) in node.outputs.enumerated() { store[v.index] = outs[i] }
            for v in node.inputs where lastUse[v.index] == k && !keep[v.index] { store[v.index] = nil }
            for v in node.outputs where lastUse[v.index] < 0 && !keep[v.index] { store[v.index] = nil }
        }

        return wanted.map { operand($0).floatArray }
    }

    // MARK: - Values

    enum Buffer {
        case floats([Float])
        case ints([Int64])

        var floatArray: [Float] {
            switch self {
            case .floats(let a): return a
            case .ints(let a): return a.map { Float($0) }
            }
        }

        var intArray: [Int64] {
            switch self {
            case .floats(let a): return a.map { $0.isFinite ? Int64(exactly: $0.rounded(.towardZero)) ?? 0 : 0 }
            case .ints(let a): return a
            }
        }
    }

    static func isIntegerType(_ d: DType) -> Bool {
        switch d {
        case .i64, .i32, .i16, .i8, .u8, .bool: return true
        case .f32, .f64, .qi8, .qu8: return false
        }
    }

    static func constantBuffer(_ t: Tensor) -> Buffer {
        isIntegerType(t.dtype) ? .ints(t.int64s()) : .floats(t.floats())
    }

    static func fail(_ m: String) -> SegcError { SegcError(.mismatch, m) }

    // MARK: - Dispatch

    /// Conv epilogue operands follow the weight: bias (if any), PReLU slope, residual.
    static func applyEpilogue(_ y: inout [Float], shape: [Int], hasBias: Bool, _ e: Epilogue, _ ins: [Buffer]) {
        var i = 2
        let bias = hasBias ? ins[2].floatArray : nil
        if hasBias { i += 1 }
        var slope: [Float]? = nil
        if e.activation == .prelu { slope = ins[i].floatArray; i += 1 }
        let residual = e.residual ? ins[i].floatArray : nil
        epilogue(&y, shape: shape, bias: bias, residual: residual, activation: e.activation, slope: slope)
    }

    static func execute(_ op: Op, _ ins: [Buffer], _ inTypes: [ValueType], _ outTypes: [ValueType]) throws(SegcError) -> [Buffer] {
        let out = outTypes[0]
        switch op {
        case .conv2d(let a):
            var y = conv2d(a, x: ins[0].floatArray, xShape: inTypes[0].shape, w: ins[1].floatArray,
                           wShape: inTypes[1].shape, outShape: out.shape)
            applyEpilogue(&y, shape: out.shape, hasBias: a.hasBias, a.epilogue, ins)
            return [.floats(y)]

        case .convTranspose2d(let a):
            var y = convTranspose2d(a, x: ins[0].floatArray, xShape: inTypes[0].shape, w: ins[1].floatArray,
                                    wShape: inTypes[1].shape, outShape: out.shape)
            applyEpilogue(&y, shape: out.shape, hasBias: a.hasBias, a.epilogue, ins)
            return [.floats(y)]

        case .batchNorm(let b):
            return [.floats(batchNorm(ins[0].floatArray, shape: inTypes[0].shape, scale: ins[1].floatArray,
                                      bias: ins[2].floatArray, mean: ins[3].floatArray, variance: ins[4].floatArray,
                                      epsilon: b.epsilon))]

        case .batchNormTraining(let b):
            // Batch statistics over N·H·W per channel (population variance), in Double.
            let x = ins[0].floatArray, s = inTypes[0].shape
            let (n, c, hw) = (s[0], s[1], s[2] * s[3])
            let scale = ins[1].floatArray, bias = ins[2].floatArray, rm = ins[3].floatArray, rv = ins[4].floatArray
            var y = [Float](repeating: 0, count: x.count), stats = [Float](repeating: 0, count: 2 * c)
            for ch in 0..<c {
                var sum = 0.0
                for i in 0..<n { for k in 0..<hw { sum += Double(x[(i * c + ch) * hw + k]) } }
                let mean = sum / Double(n * hw)
                var sq = 0.0
                for i in 0..<n { for k in 0..<hw { let d = Double(x[(i * c + ch) * hw + k]) - mean; sq += d * d } }
                let v = sq / Double(n * hw), inv = 1 / (v + Double(b.epsilon)).squareRoot()
                for i in 0..<n { for k in 0..<hw {
                    let j = (i * c + ch) * hw + k
                    y[j] = Float((Double(x[j]) - mean) * inv * Double(scale[ch]) + Double(bias[ch]))
                } }
                let m = Double(b.momentum)
                stats[ch] = Float(Double(rm[ch]) * m + mean * (1 - m))
                stats[c + ch] = Float(Double(rv[ch]) * m + v * (1 - m))
            }
            return [.floats(y), .floats(stats)]

        case .channelAffine:
            return [.floats(channelAffine(ins[0].floatArray, shape: inTypes[0].shape,
                                          scale: ins[1].floatArray, bias: ins[2].floatArray))]

        case .relu:
            if case .ints(let a) = ins[0] { return [.ints(a.map { max($0, 0) })] }
            return [.floats(ins[0].floatArray.map(relu))]

        case .prelu:
            return [.floats(prelu(ins[0].floatArray, shape: inTypes[0].shape, slope: ins[1].floatArray))]

        case .sigmoid:
            return [.floats(ins[0].floatArray.map { 1 / (1 + expf(-$0)) })]

        case .add, .sub, .mul, .div:
            if isIntegerType(out.dtype) {
                let f: (Int64, Int64) throws(SegcError) -> Int64
                switch op {
                case .add: f = { (a: Int64, b: Int64) throws(SegcError) in a &+ b }
                case .sub: f = { (a: Int64, b: Int64) throws(SegcError) in a &- b }
                case .mul: f = { (a: Int64, b: Int64) throws(SegcError) in a &* b }
                default:
                    f = { (a: Int64, b: Int64) throws(SegcError) in
                        if b == 0 { throw fail("integer division by zero") }
                        return a.dividedReportingOverflow(by: b).partialValue
                    }
                }
                return [.ints(try broadcastBinary(ins[0].intArray, inTypes[0].shape, ins[1].intArray,
                                                  inTypes[1].shape, out.shape, f))]
            }
            let a = ins[0].floatArray, b = ins[1].floatArray
            let y: [Float]
            switch op {
            case .add: y = try broadcastBinary(a, inTypes[0].shape, b, inTypes[1].shape, out.shape) { (p: Float, q: Float) in p + q }
            case .sub: y = try broadcastBinary(a, inTypes[0].shape, b, inTypes[1].shape, out.shape) { (p: Float, q: Float) in p - q }
            case .mul: y = try broadcastBinary(a, inTypes[0].shape, b, inTypes[1].shape, out.shape) { (p: Float, q: Float) in p * q }
            default: y = try broadcastBinary(a, inTypes[0].shape, b, inTypes[1].shape, out.shape) { (p: Float, q: Float) in p / q }
            }
            return [.floats(y)]

        case .concat(let axis):
            if isIntegerType(out.dtype) {
                return [.ints(concat(ins.map(\.intArray), inTypes.map(\.shape), axis: axis))]
            }
            return [.floats(concat(ins.map(\.floatArray), inTypes.map(\.shape), axis: axis))]

        case .maxPool2d(let p):
            let (y, idx) = maxPool2d(p, x: ins[0].floatArray, xShape: inTypes[0].shape, outShape: out.shape)
            return p.returnsIndices ? [.floats(y), .ints(idx)] : [.floats(y)]

        case .avgPool2d(let p):
            return [.floats(avgPool2d(p, x: ins[0].floatArray, xShape: inTypes[0].shape, outShape: out.shape))]

        case .maxUnpool2d:
            return [.floats(try maxUnpool2d(x: ins[0].floatArray, indices: ins[1].intArray,
                                            xShape: inTypes[0].shape, outShape: out.shape))]

        case .globalAveragePool:
            return [.floats(globalAveragePool(ins[0].floatArray, shape: inTypes[0].shape))]

        case .resize(let r):
            return [.floats(resize(r, x: ins[0].floatArray, xShape: inTypes[0].shape, outShape: out.shape))]

        case .pad(let p):
            if isIntegerType(out.dtype) {
                guard let v = Int64(exactly: p.value.rounded(.towardZero)) else {
                    throw fail("pad value \(p.value) is not an integer")
                }
                return [.ints(pad(ins[0].intArray, inTypes[0].shape, pads: p.pads, value: v, outShape: out.shape))]
            }
            return [.floats(pad(ins[0].floatArray, inTypes[0].shape, pads: p.pads, value: p.value, outShape: out.shape))]

        case .softmax(let axis):
            return [.floats(softmax(ins[0].floatArray, shape: inTypes[0].shape, axis: axis))]

        case .quantizeDequantize(let q):
            return [.floats(ins[0].floatArray.map(q.apply))]

        case .reshape:
            return [.floats(ins[0].floatArray)]
        }
    }

    // MARK: - Helpers

    @inline(__always) static func relu(_ x: Float) -> Float { x > 0 ? x : 0 }

    /// floor(a / b) for b > 0.
    @inline(__always) static func floorDiv(_ a: Int, _ b: Int) -> Int {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    /// ceil(a / b) for b > 0.
    @inline(__always) static func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }

    static func product(_ s: ArraySlice<Int>) -> Int { s.reduce(1, *) }

    // MARK: - Convolutions

    /// Direct cross-correlation. Loop order n, co, ci, ky, kx, oy, ox: the innermost
    /// loop runs over a contiguous output row.
    static func conv2d(_ a: Conv2d, x: [Float], xShape: [Int], w: [Float], wShape: [Int], outShape: [Int]) -> [Float] {
        let n = xShape[0], c = xShape[1], h = xShape[2], wd = xShape[3]
        let cout = wShape[0], cinG = wShape[1], kh = a.kh, kw = a.kw
        let oh = outShape[2], ow = outShape[3]
        let coutG = cout / a.groups
        let sh = a.strideH, sw = a.strideW, dh = a.dilationH, dw = a.dilationW
        let pt = a.padTop, pl = a.padLeft
        let tileRows = max(1, 4096 / max(ow, 1))
        var y = [Float](repeating: 0, count: n * cout * oh * ow)
        if y.isEmpty || x.isEmpty || w.isEmpty { return y }
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                y.withUnsafeMutableBufferPointer { yb in
                    guard let xp = xb.baseAddress, let wp = wb.baseAddress, let yp = yb.baseAddress else { return }
                    for b in 0..<n {
                        for co in 0..<cout {
                            let g = co / coutG
                            let yPlane = yp + (b * cout + co) * oh * ow
                            // Output rows in tiles of ~16 KiB so the accumulators stay in L1;
                            // the summation order per output element is unchanged.
                            var oy0 = 0
                            while oy0 < oh {
                            let oy1 = min(oh, oy0 + tileRows)
                            defer { oy0 = oy1 }
                            for cl in 0..<cinG {
                                let ci = g * cinG + cl
                                let xPlane = xp + (b * c + ci) * h * wd
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let wv = wp[((co * cinG + cl) * kh + ky) * kw + kx]
                                        // ix = ox*sw + offX must lie in [0, wd).
                                        let offX = kx * dw - pl
                                        let oxLo = max(0, ceilDiv(-offX, sw))
                                        let oxHi = min(ow - 1, floorDiv(wd - 1 - offX, sw))
                                        if oxLo > oxHi { continue }
                                        for oy in oy0..<oy1 {
                                            let iy = oy * sh - pt + ky * dh
                                            if iy < 0 || iy >= h { continue }
                                            let xRow = xPlane + iy * wd
                                            let yRow = yPlane + oy * ow
                                            if sw == 1 {
                                                let xs = xRow + offX + oxLo, ys = yRow + oxLo
                                                for i in 0..<(oxHi - oxLo + 1) { ys[i] += wv * xs[i] }
                                            } else {
                                                for ox in oxLo...oxHi { yRow[ox] += wv * xRow[ox * sw + offX] }
                                            }
                                        }
                                    }
                                }
                            }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Transposed convolution by its scatter definition:
    /// `y[co, iy·sh − pt + ky·dh, ix·sw − pl + kx·dw] += x[ci, iy, ix] · W[ci, co, ky, kx]`,
    /// weight `[Cin, Cout/g, kh, kw]`.
    static func convTranspose2d(_ a: ConvTranspose2d, x: [Float], xShape: [Int], w: [Float], wShape: [Int],
                                outShape: [Int]) -> [Float] {
        let n = xShape[0], c = xShape[1], h = xShape[2], wd = xShape[3]
        let coutG = wShape[1], kh = a.kh, kw = a.kw
        let cinG = c / a.groups
        let cout = outShape[1], oh = outShape[2], ow = outShape[3]
        let sh = a.strideH, sw = a.strideW, dh = a.dilationH, dw = a.dilationW
        let pt = a.padTop, pl = a.padLeft
        var y = [Float](repeating: 0, count: n * cout * oh * ow)
        if y.isEmpty || x.isEmpty || w.isEmpty { return y }
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                y.withUnsafeMutableBufferPointer { yb in
                    guard let xp = xb.baseAddress, let wp = wb.baseAddress, let yp = yb.baseAddress else { return }
                    for b in 0..<n {
                        for co in 0..<cout {
                            let g = co / coutG, col = co % coutG
                            let yPlane = yp + (b * cout + co) * oh * ow
                            for cl in 0..<cinG {
                                let ci = g * cinG + cl
                                let xPlane = xp + (b * c + ci) * h * wd
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let wv = wp[((ci * coutG + col) * kh + ky) * kw + kx]
                                        // ox = ix*sw + offX must lie in [0, ow).
                                        let offX = kx * dw - pl
                                        let ixLo = max(0, ceilDiv(-offX, sw))
                                        let ixHi = min(wd - 1, floorDiv(ow - 1 - offX, sw))
                                        if ixLo > ixHi { continue }
                                        for iy in 0..<h {
                                            let oy = iy * sh - pt + ky * dh
                                            if oy < 0 || oy >= oh { continue }
                                            let xRow = xPlane + iy * wd
                                            let yRow = yPlane + oy * ow + offX
                                            for ix in ixLo...ixHi { yRow[ix * sw] += wv * xRow[ix] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Conv epilogue in order: + bias[c], + residual, then activation.
    static func epilogue(_ y: inout [Float], shape: [Int], bias: [Float]?, residual: [Float]?,
                         activation: Activation, slope: [Float]?) {
        let n = shape[0], c = shape[1]
        let plane = product(shape[2...])
        y.withUnsafeMutableBufferPointer { yb in
            for b in 0..<n {
                for ch in 0..<c {
                    let base = (b * c + ch) * plane
                    if let bias {
                        let bv = bias[ch]
                        for i in base..<(base + plane) { yb[i] += bv }
                    }
                    if let residual {
                        residual.withUnsafeBufferPointer { rb in
                            for i in base..<(base + plane) { yb[i] += rb[i] }
                        }
                    }
                    switch activation {
                    case .none: break
                    case .relu:
                        for i in base..<(base + plane) { yb[i] = relu(yb[i]) }
                    case .prelu:
                        let s = slope.map { $0.count == 1 ? $0[0] : $0[ch] } ?? 0
                        for i in base..<(base + plane) { let v = yb[i]; yb[i] = relu(v) + s * min(0, v) }
                    }
                }
            }
        }
    }

    // MARK: - Per-channel ops

    static func batchNorm(_ x: [Float], shape: [Int], scale: [Float], bias: [Float], mean: [Float],
                          variance: [Float], epsilon: Float) -> [Float] {
        let c = shape[1]
        var alpha = [Float](repeating: 0, count: c), beta = [Float](repeating: 0, count: c)
        for ch in 0..<c {
            let invStd = 1 / (variance[ch] + epsilon).squareRoot()
            alpha[ch] = invStd * scale[ch]
            beta[ch] = bias[ch] - mean[ch] * alpha[ch]
        }
        return channelAffine(x, shape: shape, scale: alpha, bias: beta)
    }

    static func channelAffine(_ x: [Float], shape: [Int], scale: [Float], bias: [Float]) -> [Float] {
        let n = shape[0], c = shape[1]
        let plane = product(shape[2...])
        var y = x
        y.withUnsafeMutableBufferPointer { yb in
            for b in 0..<n {
                for ch in 0..<c {
                    let s = scale[ch], t = bias[ch]
                    let base = (b * c + ch) * plane
                    for i in base..<(base + plane) { yb[i] = yb[i] * s + t }
                }
            }
        }
        return y
    }

    /// `max(0,x) + a·min(0,x)`, `a` per channel (axis 1) or one scalar.
    static func prelu(_ x: [Float], shape: [Int], slope: [Float]) -> [Float] {
        if slope.count == 1 || shape.count < 2 {
            let a = slope.first ?? 0
            return x.map { relu($0) + a * min(0, $0) }
        }
        let n = shape[0], c = shape[1]
        let plane = product(shape[2...])
        var y = x
        for b in 0..<n {
            for ch in 0..<c {
                let a = slope[ch]
                let base = (b * c + ch) * plane
                for i in base..<(base + plane) { let v = y[i]; y[i] = relu(v) + a * min(0, v) }
            }
        }
        return y
    }

    // MARK: - Elementwise with broadcasting

    static func broadcastBinary<T>(_ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int], _ outShape: [Int],
                                   _ f: (T, T) throws(SegcError) -> T) throws(SegcError) -> [T] {
        let total = product(outShape[...])
        if aShape == outShape && bShape == outShape {
            var y: [T] = []
            y.reserveCapacity(total)
            for i in 0..<total { y.append(try f(a[i], b[i])) }
            return y
        }
        let r = outShape.count
        // Element strides of a and b per output dim; 0 where broadcast.
        func strides(_ s: [Int]) -> [Int] {
            var st = [Int](repeating: 0, count: r)
            var acc = 1
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                let d = r - s.count + i
                st[d] = s[i] == 1 ? 0 : acc
                acc *= s[i]
            }
            return st
        }
        let sa = strides(aShape), sb = strides(bShape)
        var y: [T] = []
        y.reserveCapacity(total)
        if total == 0 { return y }
        if r == 0 { return [try f(a[0], b[0])] }
        var idx = [Int](repeating: 0, count: r)
        var oa = 0, ob = 0
        let inner = outShape[r - 1], ia = sa[r - 1], ib = sb[r - 1]
        while true {
            for j in 0..<inner { y.append(try f(a[oa + j * ia], b[ob + j * ib])) }
            // Advance the odometer over dims 0..<r-1.
            var d = r - 2
            while d >= 0 {
                idx[d] += 1; oa += sa[d]; ob += sb[d]
                if idx[d] < outShape[d] { break }
                oa -= sa[d] * idx[d]; ob -= sb[d] * idx[d]; idx[d] = 0
                d -= 1
            }
            if d < 0 { break }
        }
        return y
    }

    // MARK: - Concat, pad

    static func concat<T>(_ parts: [[T]], _ shapes: [[Int]], axis: Int) -> [T] {
        let outer = product(shapes[0][..<axis])
        var y: [T] = []
        y.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        let chunks = shapes.map { product($0[axis...]) }
        for o in 0..<outer {
            for (k, p) in parts.enumerated() {
                let ch = chunks[k]
                y.append(contentsOf: p[(o * ch)..<((o + 1) * ch)])
            }
        }
        return y
    }

    /// Constant padding; negative pads crop.
    static func pad<T>(_ x: [T], _ shape: [Int], pads: [Int], value: T, outShape: [Int]) -> [T] {
        let r = shape.count
        let total = product(outShape[...])
        var y = [T](repeating: value, count: total)
        if total == 0 || x.isEmpty { return y }
        var inStrides = [Int](repeating: 1, count: r)
        if r > 0 { for d in stride(from: r - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * shape[d + 1] } }
        var idx = [Int](repeating: 0, count: r)
        for o in 0..<total {
            var src = 0
            var inside = true
            for d in 0..<r {
                let i = idx[d] - pads[d]
                if i < 0 || i >= shape[d] { inside = false; break }
                src += i * inStrides[d]
            }
            if inside { y[o] = x[src] }
            var d = r - 1
            while d >= 0 {
                idx[d] += 1
                if idx[d] < outShape[d] { break }
                idx[d] = 0
                d -= 1
            }
        }
        return y
    }

    // MARK: - Pooling

    /// Max pooling over a −∞-padded input, PyTorch CPU semantics: the first maximum in
    /// row-major window order wins (a NaN replaces the running maximum), and the index is
    /// `h·W_in + w` within the (n, c) plane.
    static func maxPool2d(_ p: Pool2d, x: [Float], xShape: [Int], outShape: [Int]) -> ([Float], [Int64]) {
        let planes = xShape[0] * xShape[1], h = xShape[2], w = xShape[3]
        let oh = outShape[2], ow = outShape[3]
        var y = [Float](repeating: 0, count: planes * oh * ow)
        var idx = [Int64](repeating: 0, count: planes * oh * ow)
        for pl in 0..<planes {
            let xBase = pl * h * w, yBase = pl * oh * ow
            for oy in 0..<oh {
                var hs = oy * p.strideH - p.padTop
                let he = min(hs + (p.kh - 1) * p.dilationH + 1, h)
                while hs < 0 { hs += p.dilationH }
                for ox in 0..<ow {
                    var ws = ox * p.strideW - p.padLeft
                    let we = min(ws + (p.kw - 1) * p.dilationW + 1, w)
                    while ws < 0 { ws += p.dilationW }
                    var best = -Float.infinity
                    var bestIndex = hs * w + ws
                    var iy = hs
                    while iy < he {
                        var ix = ws
                        while ix < we {
                            let v = x[xBase + iy * w + ix]
                            if v > best || v.isNaN { best = v; bestIndex = iy * w + ix }
                            ix += p.dilationW
                        }
                        iy += p.dilationH
                    }
                    y[yBase + oy * ow + ox] = best
                    idx[yBase + oy * ow + ox] = Int64(bestIndex)
                }
            }
        }
        return (y, idx)
    }

    /// Average pooling with zero padding. The divisor counts the window positions inside
    /// the input, or with `countIncludePad` those inside the padded input
    /// (`[−padBegin, size + padEnd)`), as PyTorch does in ceil mode.
    static func avgPool2d(_ p: Pool2d, x: [Float], xShape: [Int], outShape: [Int]) -> [Float] {
        let planes = xShape[0] * xShape[1], h = xShape[2], w = xShape[3]
        let oh = outShape[2], ow = outShape[3]
        var y = [Float](repeating: 0, count: planes * oh * ow)
        for pl in 0..<planes {
            let xBase = pl * h * w, yBase = pl * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum: Float = 0
                    var valid = 0, padded = 0
                    for ky in 0..<p.kh {
                        let iy = oy * p.strideH - p.padTop + ky * p.dilationH
                        for kx in 0..<p.kw {
                            let ix = ox * p.strideW - p.padLeft + kx * p.dilationW
                            if iy < h + p.padBottom && ix < w + p.padRight { padded += 1 }
                            if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                sum += x[xBase + iy * w + ix]
                                valid += 1
                            }
                        }
                    }
                    let divisor = p.countIncludePad ? padded : valid
                    y[yBase + oy * ow + ox] = divisor > 0 ? sum / Float(divisor) : 0
                }
            }
        }
        return y
    }

    /// Zeros of the output size with each `x` scattered to its plane-relative index
    /// (later elements win on duplicates). An index outside the output plane is an error.
    static func maxUnpool2d(x: [Float], indices: [Int64], xShape: [Int], outShape: [Int]) throws(SegcError) -> [Float] {
        let planes = xShape[0] * xShape[1], inPlane = xShape[2] * xShape[3]
        let outPlane = outShape[2] * outShape[3]
        var y = [Float](repeating: 0, count: planes * outPlane)
        for pl in 0..<planes {
            for i in 0..<inPlane {
                let k = indices[pl * inPlane + i]
                if k < 0 || k >= Int64(outPlane) {
                    throw fail("unpool index \(k) outside the \(outShape[2])x\(outShape[3]) output plane")
                }
                y[pl * outPlane + Int(k)] = x[pl * inPlane + i]
            }
        }
        return y
    }

    /// Mean over H, W (sum in Double, one rounding to Float).
    static func globalAveragePool(_ x: [Float], shape: [Int]) -> [Float] {
        let planes = shape[0] * shape[1], plane = shape[2] * shape[3]
        var y = [Float](repeating: 0, count: planes)
        for pl in 0..<planes {
            var s: Double = 0
            for i in 0..<plane { s += Double(x[pl * plane + i]) }
            y[pl] = plane > 0 ? Float(s / Double(plane)) : 0
        }
        return y
    }

    // MARK: - Resize

    /// Source coordinate of output index `dst` (ONNX `coordinate_transformation_mode`,
    /// computed in Float with `scale = in/out` as PyTorch does).
    static func sourceCoordinate(_ dst: Int, inSize: Int, outSize: Int, _ mode: Resize.Coordinates) -> Float {
        switch mode {
        case .asymmetric:
            return Float(dst) * (Float(inSize) / Float(outSize))
        case .halfPixel:
            return (Float(dst) + 0.5) * (Float(inSize) / Float(outSize)) - 0.5
        case .pytorchHalfPixel:
            return outSize > 1 ? (Float(dst) + 0.5) * (Float(inSize) / Float(outSize)) - 0.5 : 0
        case .alignCorners:
            return outSize > 1 ? Float(dst) * (Float(inSize - 1) / Float(outSize - 1)) : 0
        case .halfPixelSymmetric, .tfCropAndResize:
            // Only with `general` parameters (checked by shape inference); see `generalAxis`.
            return (Float(dst) + 0.5) * (Float(inSize) / Float(outSize)) - 0.5
        }
    }

    /// One axis of ONNX Resize in full, as onnx's reference (`_interpolate_1d_along_axis`)
    /// defines it, in Double: per output index its source taps (edge-clamped), weights and
    /// whether it is extrapolated (tf_crop_and_resize outside the input).
    static func generalAxis(_ r: Resize, _ g: Resize.General, inSize: Int, outSize: Int, scale: Double,
                            roi: (Double, Double)) -> [(idx: [Int], w: [Double], extrapolated: Bool)] {
        let n = Double(inSize), outW = scale * n
        let a = Double(g.cubicA)
        func cubic(_ t: Double) -> Double {
            let x = abs(t)
            if x <= 1 { return (a + 2) * x * x * x - (a + 3) * x * x + 1 }
            if x < 2 { return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a }
            return 0
        }
        var result: [(idx: [Int], w: [Double], extrapolated: Bool)] = []
        for o in 0..<outSize {
            let y = Double(o)
            var x: Double
            var extrapolated = false
            switch r.coordinates {
            case .alignCorners: x = outW == 1 ? 0 : y * (n - 1) / (outW - 1)
            case .asymmetric: x = y / scale
            case .tfCropAndResize:
                x = outW == 1 ? (roi.1 - roi.0) * (n - 1) / 2 : y * (roi.1 - roi.0) * (n - 1) / (outW - 1)
                x += roi.0 * (n - 1)
                extrapolated = x < 0 || x > n - 1
            case .pytorchHalfPixel: x = outW == 1 ? -0.5 : (y + 0.5) / scale - 0.5
            case .halfPixel: x = (y + 0.5) / scale - 0.5
            case .halfPixelSymmetric:
                x = (n / 2) * (1 - Double(outSize) / outW) + (y + 0.5) / scale - 0.5
            }
            let ratio = x == x.rounded(.down) ? 1 : x - x.rounded(.down)
            var c: [Double]
            let s = min(scale, 1)
            switch r.mode {
            case .nearest:
                let up: Bool
                if ratio == 1 { up = true } else {
                    switch r.nearest {
                    case .roundPreferFloor: up = ratio > 0.5
                    case .roundPreferCeil: up = ratio >= 0.5
                    case .floor: up = false
                    case .ceil: up = true
                    }
                }
                c = up ? [0, 1] : [1, 0]
            case .linear:
                if g.antialias {
                    let start = Int((-1 / s).rounded(.down)) + 1
                    c = (start..<(2 - start)).map { min(max(1 - abs((Double($0) - ratio) * s), 0), 1) }
                    let sum = c.reduce(0, +); c = c.map { $0 / sum }
                } else {
                    c = [1 - ratio, ratio]
                }
            case .cubic:
                if g.antialias {
                    let start = Int((-2 / s).rounded(.down)) + 1
                    c = (start..<(2 - start)).map { cubic(s * (Double($0) - ratio)) }
                    let sum = c.reduce(0, +); c = c.map { $0 / sum }
                } else {
                    c = [cubic(ratio + 1), cubic(ratio), cubic(1 - ratio), cubic(2 - ratio)]
                }
            }
            // The c.count nearest indices of x, ties to the smaller (onnx's _get_neighbor_idxes).
            let k = c.count
            let first: Int
            if k % 2 == 0 {
                let fl = x.rounded(.down)
                first = Int(fl) - (x == fl ? k / 2 : k / 2 - 1)
            } else {
                let centre = x - x.rounded(.down) <= 0.5 ? x.rounded(.down) : x.rounded(.down) + 1
                first = Int(centre) - (k - 1) / 2
            }
            var idx = (0..<k).map { first + $0 }
            if g.excludeOutside {
                for i in 0..<k where idx[i] < 0 || idx[i] >= inSize { c[i] = 0 }
                let sum = c.reduce(0, +)
                if sum != 0 { c = c.map { $0 / sum } }
            }
            idx = idx.map { min(max($0, 0), inSize - 1) }
            result.append((idx, c, extrapolated))
        }
        return result
    }

    static func generalResize(_ r: Resize, _ g: Resize.General, x: [Float], xShape: [Int], outShape: [Int]) -> [Float] {
        let planes = xShape[0] * xShape[1], h = xShape[2], w = xShape[3]
        let oh = outShape[2], ow = outShape[3]
        let ty = generalAxis(r, g, inSize: h, outSize: oh, scale: Double(g.scaleH), roi: (Double(g.roi[0]), Double(g.roi[2])))
        let tx = generalAxis(r, g, inSize: w, outSize: ow, scale: Double(g.scaleW), roi: (Double(g.roi[1]), Double(g.roi[3])))
        var y = [Float](repeating: 0, count: planes * oh * ow)
        for pl in 0..<planes {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc = 0.0
                    if ty[oy].extrapolated || tx[ox].extrapolated {
                        acc = Double(g.extrapolation)
                    } else {
                        for (a, iy) in ty[oy].idx.enumerated() {
                            var s = 0.0
                            for (b, ix) in tx[ox].idx.enumerated() { s += tx[ox].w[b] * Double(x[(pl * h + iy) * w + ix]) }
                            acc += ty[oy].w[a] * s
                        }
                    }
                    y[(pl * oh + oy) * ow + ox] = Float(acc)
                }
            }
        }
        return y
    }

    static func nearestIndex(_ dst: Int, inSize: Int, outSize: Int, _ r: Resize) -> Int {
        let s = sourceCoordinate(dst, inSize: inSize, outSize: outSize, r.coordinates)
        let f = s.rounded(.down)
        let i: Float
        switch r.nearest {
        case .floor: i = f
        case .ceil: i = s.rounded(.up)
        case .roundPreferFloor: i = s - f == 0.5 ? f : s.rounded(.toNearestOrAwayFromZero)
        case .roundPreferCeil: i = s - f == 0.5 ? f + 1 : s.rounded(.toNearestOrAwayFromZero)
        }
        if !(i > 0) { return 0 }
        if i >= Float(inSize - 1) { return inSize - 1 }
        return Int(i)
    }

    /// Two-tap linear weights: the source coordinate clamped to [0, in−1]
    /// (PyTorch clamps negatives to 0; ONNX edge-extends, which is the same).
    static func linearTaps(_ dst: Int, inSize: Int, outSize: Int, _ mode: Resize.Coordinates) -> (Int, Int, Float, Float) {
        var s = sourceCoordinate(dst, inSize: inSize, outSize: outSize, mode)
        if !(s > 0) { s = 0 }
        let i0 = min(Int(s), inSize - 1)
        let i1 = i0 < inSize - 1 ? i0 + 1 : i0
        let l1 = min(max(s - Float(i0), 0), 1)
        return (i0, i1, 1 - l1, l1)
    }

    static func resize(_ r: Resize, x: [Float], xShape: [Int], outShape: [Int]) -> [Float] {
        let planes = xShape[0] * xShape[1], h = xShape[2], w = xShape[3]
        let oh = outShape[2], ow = outShape[3]
        var y = [Float](repeating: 0, count: planes * oh * ow)
        if y.isEmpty || x.isEmpty { return y }
        if let g = r.general { return generalResize(r, g, x: x, xShape: xShape, outShape: outShape) }
        switch r.mode {
        case .cubic:
            return y  // unreachable: a cubic resize always carries `general` (shape inference checks it)
        case .nearest:
            let ys = (0..<oh).map { nearestIndex($0, inSize: h, outSize: oh, r) }
            let xs = (0..<ow).map { nearestIndex($0, inSize: w, outSize: ow, r) }
            for pl in 0..<planes {
                for oy in 0..<oh {
                    let src = pl * h * w + ys[oy] * w, dst = (pl * oh + oy) * ow
                    for ox in 0..<ow { y[dst + ox] = x[src + xs[ox]] }
                }
            }
        case .linear:
            let ty = (0..<oh).map { linearTaps($0, inSize: h, outSize: oh, r.coordinates) }
            let tx = (0..<ow).map { linearTaps($0, inSize: w, outSize: ow, r.coordinates) }
            for pl in 0..<planes {
                let base = pl * h * w
                for oy in 0..<oh {
                    let (y0, y1, a0, a1) = ty[oy]
                    let r0 = base + y0 * w, r1 = base + y1 * w
                    let dst = (pl * oh + oy) * ow
                    for ox in 0..<ow {
                        let (x0, x1, b0, b1) = tx[ox]
                        y[dst + ox] = a0 * (b0 * x[r0 + x0] + b1 * x[r0 + x1])
                                    + a1 * (b0 * x[r1 + x0] + b1 * x[r1 + x1])
                    }
                }
            }
        }
        return y
    }

    // MARK: - Softmax

    static func softmax(_ x: [Float], shape: [Int], axis: Int) -> [Float] {
        let outer = product(shape[..<axis]), len = shape[axis], inner = product(shape[(axis + 1)...])
        var y = x
        if len == 0 { return y }
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * len * inner + i
                var m = -Float.infinity
                for k in 0..<len { m = max(m, x[base + k * inner]) }
                var s: Float = 0
                for k in 0..<len {
                    let e = expf(x[base + k * inner] - m)
                    y[base + k * inner] = e
                    s += e
                }
                for k in 0..<len { y[base + k * inner] /= s }
            }
        }
        return y
    }
}
