import SegcCore
import SegcLower
import SegcPlan

/// The quantization pass (product.md §3.5): an fp32 plan and per-activation uint8
/// grids → a plan whose convolutions run in int8.
///
/// * conv2d / conv_transpose2d (unless kept in fp32) become qconv2d / qconv_transpose2d:
///   uint8 input, int8 weights per output channel, int32 bias, requantization fused with
///   bias, activation and residual add; the output is uint8, or float32 where nothing
///   downstream takes uint8 (the logits are dequantized inside the conv, never rounded).
/// * max pooling runs on uint8 when its input is uint8 (same grid in and out), concat
///   when any input is uint8 (all inputs on the output's grid), a channel affine and a
///   ReLU on uint8 become qchannel_affine.
/// * Everything else runs in float32: `quantize` / `dequantize` ops are inserted where
///   the representation changes.
package enum Int8Lowering {
    /// The ops `--fp32-layers` and the sensitivity analysis talk about: the convolutions.
    package static func layers(_ plan: PlanFile) -> [Int] {
        plan.graph.ops.indices.filter { [.conv2d, .convTranspose2d].contains(plan.graph.ops[$0].kind) }
    }

    /// Layer name of op `i` (its source-map entry, as `inspect --layers` prints).
    package static func name(_ plan: PlanFile, _ i: Int) -> String {
        plan.sourceName(i) ?? "op\(i)"
    }

    enum Rep { case f32, u8 }

    /// - Parameters:
    ///   - grids: the uint8 grid of each float32 activation of `plan` (value index →
    ///     params); every activation an int8 op reads or writes must have one.
    ///   - fp32Layers: conv op indices that stay float32.
    ///   - channelMeans: per-channel means of conv inputs (value index → means); when
    ///     given, each int8 conv's bias absorbs the mean error its rounded weights make
    ///     (bias correction, Nagel et al. 2019): Δb[co] = Σ (w − ŵ)[co, ci, tap] · mean[ci].
    ///   - sourceGrids: the grids are a quantized source model's own, i.e. part of what it
    ///     computes (QDQ ONNX, FX): every value is rounded on its own grid, as the source
    ///     does, rather than producers writing straight onto a concat's grid (one rounding
    ///     instead of two: more exact, but not the source's numbers), and weights that lie
    ///     on an int8 grid per output channel keep it (`QuantizedWeights` `keepGrid`).
    package static func lower(_ plan: PlanFile, grids: [Int: QuantParams], fp32Layers: Set<Int>,
                              channelMeans: [Int: [Double]] = [:], quantizedMeans: [Int: [Double]] = [:],
                              sourceGrids: Bool = false, roundedWeights: [Int: QuantizedWeights] = [:]) throws(SegcError) -> PlanFile {
        try lowerReporting(plan, grids: grids, fp32Layers: fp32Layers, channelMeans: channelMeans,
                           quantizedMeans: quantizedMeans, sourceGrids: sourceGrids, roundedWeights: roundedWeights).plan
    }

    /// The uint8 input of an int8 conv in the lowered plan: its value there and its grid.
    package struct ConvInput: Sendable, Equatable {
        package var value: Int
        package var grid: QuantParams
    }

    /// `lower`, also returning, for each source value an int8 conv reads, that conv's
    /// uint8 input in the new plan (what `BiasCorrection.measure` observes).
    /// - Parameter quantizedMeans: per-channel means of those uint8 inputs (dequantized),
    ///   measured on an earlier lowering (`BiasCorrection`); with `channelMeans`, the bias
    ///   absorbs the whole mean error of the conv's output, input quantization and upstream
    ///   error included, not only the rounded weights'.
    /// - Parameter roundedWeights: int8 weights of conv ops (op index of `plan`) rounded
    ///   beforehand (`WeightRounding.gptq`); the others are rounded to nearest.
    package static func lowerReporting(_ plan: PlanFile, grids: [Int: QuantParams], fp32Layers: Set<Int>,
                                       channelMeans: [Int: [Double]] = [:], quantizedMeans: [Int: [Double]] = [:],
                                       sourceGrids: Bool = false, roundedWeights: [Int: QuantizedWeights] = [:]) throws(SegcError) -> (plan: PlanFile, convInputs: [Int: ConvInput]) {
        let g = plan.graph
        if g.ops.contains(where: { $0.kind.isRealInt8 }) {
            throw SegcError(.unsupported, "the plan is already quantized")
        }
        var consumers = [[Int]](repeating: [], count: g.values.count)
        for (i, op) in g.ops.enumerated() { for v in op.inputs { consumers[v].append(i) } }
        var graphOutputs: Set<Int> = [g.output]
        for e in plan.metadata.extraOutputs { graphOutputs.insert(e.value) }
        // A value without a grid stays float32 (QDQ models carry grids only where the
        // exporter put Q/DQ pairs), and so does every int8 op that would read or write it.
        func isQConv(_ i: Int) -> Bool {
            [.conv2d, .convTranspose2d].contains(g.ops[i].kind) && !fp32Layers.contains(i)
                && g.values[g.ops[i].inputs[0]].shape.first == 1 && g.ops[i].inputs.allSatisfy { grids[$0] != nil }
        }
        /// An add of two uint8 values on a source model's grids (`Int8Add.swift`).
        func isQAdd(_ i: Int) -> Bool {
            let op = g.ops[i], shape = g.values[op.outputs[0]].shape
            return sourceGrids && op.kind == .add && op.inputs.count == 2 && shape.count == 4 && shape[0] == 1
                && op.inputs.allSatisfy { g.values[$0].shape == shape && grids[$0] != nil } && grids[op.outputs[0]] != nil
                && !graphOutputs.contains(op.outputs[0])
        }
        /// Whether a consumer would take the value as uint8.
        func takesU8(_ v: Int) -> Bool {
            if graphOutputs.contains(v) { return false }
            // A source model's grid is part of what it computes: the value is rounded onto it.
            if sourceGrids && grids[v] != nil && g.values[v].shape.count == 4 { return true }
            return consumers[v].contains { c in
                switch g.ops[c].kind {
                case .conv2d, .convTranspose2d: return isQConv(c)
                case .add: return isQAdd(c)
                case .maxPool2d, .concat, .channelAffine, .relu: return g.values[v].shape.count == 4
                default: return false
                }
            }
        }

        // Pass 1: the representation of each value.
        var rep = [Rep](repeating: .f32, count: g.values.count)
        for (i, op) in g.ops.enumerated() {
            let y = op.outputs[0]
            switch op.kind {
            case .conv2d, .convTranspose2d:
                if isQConv(i) && takesU8(y) && grids[y] != nil { rep[y] = .u8 }
            case .add:
                if isQAdd(i) { rep[y] = .u8 }
            case .maxPool2d:
                rep[y] = rep[op.inputs[0]]
            case .concat:
                if g.values[y].shape.count == 4, op.inputs.contains(where: { rep[$0] == .u8 }), !graphOutputs.contains(y),
                   grids[y] != nil, op.inputs.allSatisfy({ rep[$0] == .u8 || grids[$0] != nil }) { rep[y] = .u8 }
            case .channelAffine, .relu:
                if rep[op.inputs[0]] == .u8 && g.values[y].shape.count == 4 && takesU8(y) && grids[y] != nil { rep[y] = .u8 }
                // A float ReLU onto a zero-point-0 source grid is a plain quantize (QDQ models'
                // input): its consumers (pooling, concat) can then run on uint8 too.
                if op.kind == .relu && sourceGrids && grids[y]?.zeroPoint == 0 && takesU8(y) { rep[y] = .u8 }
            default: break
            }
        }

        var producer = [Int](repeating: -1, count: g.values.count)
        for (i, op) in g.ops.enumerated() { for v in op.outputs { producer[v] = i } }

        // ReLU after a uint8 concat (ERFNet's downsamplers): moved into the concat's
        // producers, so the concat is written once, on the ReLU's (non-negative) grid.
        var reluOfConcat: [Int: Int] = [:]     // concat op → relu op
        var reluFused: Set<Int> = []           // producers that apply it
        for (i, op) in g.ops.enumerated() where op.kind == .concat && rep[op.outputs[0]] == .u8 && !sourceGrids {
            let y = op.outputs[0]
            guard !graphOutputs.contains(y), consumers[y].count == 1, g.ops[consumers[y][0]].kind == .relu else { continue }
            reluOfConcat[i] = consumers[y][0]
            for x in op.inputs where producer[x] >= 0 && rep[x] == .u8 && consumers[x] == [i] {
                let p = producer[x], k = g.ops[p].kind
                if (k == .conv2d || k == .convTranspose2d) && isQConv(p) {
                    let actAt = k == .conv2d ? PlanOpSchema.Conv.activation : PlanOpSchema.ConvTranspose.activation
                    if g.ops[p].ints[actAt] == 0 { reluFused.insert(p) }
                } else if k == .channelAffine {
                    reluFused.insert(p)
                }
            }
        }

        // A ReLU after an int8 add (or, on source grids, a qchannel_affine) on the same grid
        // runs inside it.
        var reluInside: [Int: Int] = [:]        // add / channel affine op → relu op
        for (i, op) in g.ops.enumerated() where rep[op.outputs[0]] == .u8
            && (isQAdd(i) || (sourceGrids && op.kind == .channelAffine)) {
            let y = op.outputs[0]
            if consumers[y].count == 1, g.ops[consumers[y][0]].kind == .relu, grids[g.ops[consumers[y][0]].outputs[0]] == grids[y] {
                reluInside[i] = consumers[y][0]
            }
        }

        // Pass 2: grids. A uint8 concat's inputs share its grid: producers that requantize
        // anyway (qconv, qchannel_affine) write it directly; a max pool keeps its input's grid.
        var grid = grids
        func need(_ v: Int) throws(SegcError) -> QuantParams {
            guard let p = grid[v] else { throw SegcError(.malformed, "value \(v) has no calibration statistics") }
            return p
        }
        for (c, r) in reluOfConcat { grid[g.ops[c].outputs[0]] = try need(g.ops[r].outputs[0]) }
        for op in g.ops.reversed() where op.kind == .concat && rep[op.outputs[0]] == .u8 && !sourceGrids {
            let target = try need(op.outputs[0])
            for x in op.inputs where producer[x] >= 0 && rep[x] == .u8 {
                let k = g.ops[producer[x]].kind
                if [.conv2d, .convTranspose2d, .channelAffine, .relu, .concat].contains(k) { grid[x] = target }
            }
        }
        for op in g.ops where op.kind == .maxPool2d && rep[op.outputs[0]] == .u8 { grid[op.outputs[0]] = try need(op.inputs[0]) }

        // Pass 3: emission.
        var e = Emitter(plan: plan)
        e.channelMeans = channelMeans
        e.quantizedMeans = quantizedMeans
        e.keepWeightGrids = sourceGrids
        e.roundedWeights = roundedWeights
        e.f32Of[g.input] = e.newValue(.f32, g.values[g.input].shape, name: "input")
        for (i, op) in g.ops.enumerated() {
            let name = Self.name(plan, i)
            switch op.kind {
            case .conv2d where isQConv(i), .convTranspose2d where isQConv(i):
                try e.qconv(op, index: i, name: name, grid: grid, outU8: rep[op.outputs[0]] == .u8, relu: reluFused.contains(i))
            case .add where rep[op.outputs[0]] == .u8:
                try e.qadd(op, name: name, grid: grid, relu: reluInside[i] != nil)
            case .relu where reluInside.values.contains(i):
                e.u8Of[op.outputs[0]] = e.u8Of[op.inputs[0]]   // applied by the add / affine
            case .relu where rep[op.outputs[0]] == .u8 && rep[op.inputs[0]] == .f32:
                // Quantizing onto the zero-point-0 grid clamps at 0: that is the ReLU.
                let p = try need(op.outputs[0])
                let x = try e.f32(op.inputs[0], grid: grid)
                let out = e.newValue(.u8, g.values[op.outputs[0]].shape, name: name, grid: p)
                e.u8Of[op.outputs[0]] = out
                e.emit(PlanOp(kind: .quantize, inputs: [x], outputs: [out], ints: [Int64(p.zeroPoint)], floats: [p.scale]), name: name)
            case .relu where reluOfConcat.values.contains(i):
                e.u8Of[op.outputs[0]] = e.u8Of[op.inputs[0]]   // applied by the concat's producers
            case .maxPool2d where rep[op.outputs[0]] == .u8:
                var q = op
                q.inputs = [try e.u8(op.inputs[0], grid: grid)]
                q.outputs = []
                q.outputs.append(e.newValue(.u8, g.values[op.outputs[0]].shape, name: name, grid: e.gridOf[q.inputs[0]]))
                e.u8Of[op.outputs[0]] = q.outputs[0]
                if op.outputs.count == 2 {
                    let idx = e.newValue(.i64, g.values[op.outputs[1]].shape, name: name)
                    q.outputs.append(idx)
                    e.f32Of[op.outputs[1]] = idx   // int64 indices: carried through as they are
                }
                e.emit(q, name: name)
            case .concat where rep[op.outputs[0]] == .u8:
                let target = try need(op.outputs[0])
                let relu = reluOfConcat[i] != nil
                var q = op
                q.inputs = []
                for x in op.inputs {
                    q.inputs.append(try e.u8(x, grid: grid, on: target, relu: relu && !reluFused.contains(producer[x])))
                }
                let y = e.newValue(.u8, g.values[op.outputs[0]].shape, name: name, grid: target)
                q.outputs = [y]
                e.u8Of[op.outputs[0]] = y
                e.emit(q, name: name)
            case .channelAffine where rep[op.outputs[0]] == .u8, .relu where rep[op.outputs[0]] == .u8:
                let x = op.inputs[0], y = op.outputs[0]
                let px = try need(x), py = try need(y)
                let c = g.values[x].shape[1]
                var mul = [Float](repeating: px.scale / py.scale, count: c), add = [Float](repeating: 0, count: c)
                if op.kind == .channelAffine {
                    let s = e.weights.floats(op.weights[0]), b = e.weights.floats(op.weights[1])
                    mul = (0..<c).map { s[$0] * px.scale / py.scale }
                    add = (0..<c).map { b[$0] / py.scale }
                }
                let x8 = try e.u8(x, grid: grid)
                let out = e.newValue(.u8, g.values[y].shape, name: name, grid: py)
                e.u8Of[y] = out
                e.emit(PlanOp(kind: .qchannelAffine, inputs: [x8], outputs: [out],
                              weights: [e.weights.add(mul, shape: [c]), e.weights.add(add, shape: [c])],
                              ints: [Int64(px.zeroPoint), Int64(py.zeroPoint),
                                     op.kind == .relu || reluFused.contains(i) || reluInside[i] != nil ? 1 : 0]),
                       name: name)
            default:
                // Float32 as in the source plan.
                var f = op
                f.inputs = []
                for x in op.inputs { f.inputs.append(try e.f32(x, grid: grid)) }
                f.weights = op.weights.map { e.weights.copy($0) }
                f.outputs = op.outputs.map { v in
                    let n = e.newValue(g.values[v].dtype, g.values[v].shape, name: name)
                    e.f32Of[v] = n
                    return n
                }
                e.emit(f, name: name)
                // On a source model's grid a float result is rounded too, as the source's
                // Q/DQ does; float readers then see the rounded value.
                for v in op.outputs where sourceGrids && grid[v] != nil && g.values[v].dtype == .f32
                    && g.values[v].shape.count == 4 && !graphOutputs.contains(v) {
                    _ = try e.u8(v, grid: grid)
                    e.f32Of[v] = nil
                }
            }
        }
        let output = try e.f32(g.output, grid: grid)
        var extras = plan.metadata.extraOutputs
        for k in extras.indices { extras[k].value = try e.f32(extras[k].value, grid: grid) }
        return (e.finish(input: e.f32Of[g.input]!, output: output, extras: extras), e.convInputs)
    }
}

/// Builds the new plan op by op: values, weights, source names, and the float/uint8
/// form of every source value (with `quantize` / `dequantize` inserted on demand).
struct Emitter {
    let plan: PlanFile
    var weights: PlanWeightBuilder
    var values: [PlanValue] = []
    var ops: [PlanOp] = []
    var sources: [String] = []
    var f32Of: [Int: Int] = [:]
    var u8Of: [Int: Int] = [:]
    /// uint8 copies of a value on another grid (source value, grid) → value.
    var regridded: [String: Int] = [:]
    var channelMeans: [Int: [Double]] = [:]
    var quantizedMeans: [Int: [Double]] = [:]
    /// Source value → the uint8 input of the int8 convs reading it (`lowerReporting`).
    var convInputs: [Int: Int8Lowering.ConvInput] = [:]
    var keepWeightGrids = false
    /// Source op index → its int8 weights, when rounded other than to nearest.
    var roundedWeights: [Int: QuantizedWeights] = [:]
    /// Lowered uint8 value → its grid.
    var gridOf: [Int: QuantParams] = [:]

    init(plan: PlanFile) {
        self.plan = plan
        weights = PlanWeightBuilder(source: plan.weights)
    }

    /// `grid`: what a uint8 value's codes stand for (META `value_grids`, the float twin).
    mutating func newValue(_ dtype: PlanDType, _ shape: [Int], name: String, grid: QuantParams? = nil) -> Int {
        values.append(PlanValue(dtype: dtype, shape: shape, arenaOffset: 0))
        if dtype == .u8, let grid { gridOf[values.count - 1] = grid }
        return values.count - 1
    }

    mutating func emit(_ op: PlanOp, name: String) {
        ops.append(op)
        sources.append(name)
    }

    /// A `quantize` (float32 → uint8) or `dequantize` op of `x` on grid `p`; its output value.
    mutating func convert(_ x: Int, _ kind: PlanOpKind, _ p: QuantParams) -> Int {
        let y = newValue(kind == .quantize ? .u8 : .f32, values[x].shape, name: "", grid: p)
        emit(PlanOp(kind: kind, inputs: [x], outputs: [y], ints: [Int64(p.zeroPoint)], floats: [p.scale]), name: kind.name)
        return y
    }

    /// The source value `v` as uint8 on its grid (quantized from float32 if needed).
    mutating func u8(_ v: Int, grid: [Int: QuantParams]) throws(SegcError) -> Int {
        if let u = u8Of[v] { return u }
        guard let f = f32Of[v], let p = grid[v] else { throw SegcError(.malformed, "value \(v) cannot be quantized (no statistics)") }
        let u = convert(f, .quantize, p)
        u8Of[v] = u
        return u
    }

    /// The source value `v` as uint8 on the grid `target` (requantized with a
    /// qchannel_affine when its own grid differs).
    mutating func u8(_ v: Int, grid: [Int: QuantParams], on target: QuantParams, relu: Bool = false) throws(SegcError) -> Int {
        if u8Of[v] == nil, f32Of[v] != nil {
            // Quantize straight onto the target grid (a ReLU's grid starts at 0: quantizing
            // clamps negatives to 0, which is the ReLU).
            let key = "\(v)@\(target.scale)/\(target.zeroPoint)"
            if let r = regridded[key] { return r }
            let u = convert(f32Of[v]!, .quantize, target)
            regridded[key] = u
            return u
        }
        let x = try u8(v, grid: grid)
        guard let p = grid[v] else { throw SegcError(.malformed, "value \(v) has no grid") }
        if p == target && !(relu && p.zeroPoint > 0) { return x }
        let key = "\(v)@\(target.scale)/\(target.zeroPoint)/\(relu)"
        if let r = regridded[key] { return r }
        let c = values[x].shape[1]
        let y = newValue(.u8, values[x].shape, name: "", grid: target)
        emit(PlanOp(kind: .qchannelAffine, inputs: [x], outputs: [y],
                    weights: [weights.add([Float](repeating: p.scale / target.scale, count: c), shape: [c]),
                              weights.add([Float](repeating: 0, count: c), shape: [c])],
                    ints: [Int64(p.zeroPoint), Int64(target.zeroPoint), relu ? 1 : 0]), name: "requantize")
        regridded[key] = y
        return y
    }

    /// The source value `v` as float32 (dequantized if it only exists as uint8).
    mutating func f32(_ v: Int, grid: [Int: QuantParams]) throws(SegcError) -> Int {
        if let f = f32Of[v] { return f }
        guard let u = u8Of[v], let p = grid[v] else { throw SegcError(.malformed, "value \(v) is read before it is written") }
        let f = convert(u, .dequantize, p)
        f32Of[v] = f
        return f
    }

    /// conv2d / conv_transpose2d → qconv2d / qconv_transpose2d.
    mutating func qconv(_ op: PlanOp, index: Int, name: String, grid: [Int: QuantParams], outU8: Bool, relu: Bool) throws(SegcError) {
        let t = op.kind == .convTranspose2d
        let hasBiasAt = t ? PlanOpSchema.ConvTranspose.hasBias : PlanOpSchema.Conv.hasBias
        let actAt = t ? PlanOpSchema.ConvTranspose.activation : PlanOpSchema.Conv.activation
        let resAt = t ? PlanOpSchema.ConvTranspose.residual : PlanOpSchema.Conv.residual
        let groupsAt = t ? PlanOpSchema.ConvTranspose.groups : PlanOpSchema.Conv.groups
        let hasBias = op.ints[hasBiasAt] == 1, act = op.ints[actAt], residual = op.ints[resAt] == 1
        let x = op.inputs[0], y = op.outputs[0]
        guard let px = grid[x] else { throw SegcError(.malformed, "\(name): no statistics for its input") }
        let x8 = try u8(x, grid: grid)
        let wref = op.weights[0]
        let w = weights.floats(wref)
        var qw = roundedWeights[index].flatMap { $0.values.count == w.count ? $0 : nil }
            ?? (t ? QuantizedWeights.convTranspose(w, shape: wref.shape, groups: Int(op.ints[groupsAt]), keepGrid: keepWeightGrids)
                   : QuantizedWeights.conv(w, shape: wref.shape, keepGrid: keepWeightGrids))
        let cout = qw.scales.count
        var b = hasBias ? weights.floats(op.weights[1]) : [Float](repeating: 0, count: cout)
        convInputs[x] = Int8Lowering.ConvInput(value: x8, grid: px)
        if let mean = channelMeans[x], mean.count == (t ? wref.shape[0] : wref.shape[1] * Int(op.ints[groupsAt])) {
            // Bias correction (BiasCorrection.swift): the expected output error of the rounded
            // weights, and with measured means of the uint8 input, of everything upstream.
            // A transposed conv's output pixel sees inputPixels / outputPixels of its taps (1/4
            // at stride 2). The weights-only correction (the default) keeps its sum over every
            // tap, as before session 9: with the factor, ENet's search keeps one conv fewer in
            // fp32 and its worst Cityscapes frame drops from 98.23 to 97.96 % (Notes, session 9).
            let xs = plan.graph.values[x].shape, ys = plan.graph.values[y].shape
            let measured = quantizedMeans[x]
            let delta = BiasCorrection.delta(w, shape: wref.shape, transposed: t, groups: Int(op.ints[groupsAt]),
                                             quantized: qw, inputMeans: mean, quantizedInputMeans: measured,
                                             inputPixels: measured == nil ? 1 : xs[2] * xs[3],
                                             outputPixels: measured == nil ? 1 : ys[2] * ys[3])
            for c in 0..<cout { b[c] += Float(delta[c]) }
        }
        let py: QuantParams? = outU8 ? grid[y] : nil
        if outU8 && py == nil { throw SegcError(.malformed, "\(name): no statistics for its output") }
        let sy = py?.scale ?? 1
        let channelOf = ConvWeightLayout.outputChannel(shape: wref.shape, transposed: t, groups: Int(op.ints[groupsAt]))
        let bias = qw.fitBiases(b, weights: w, channelOf: channelOf, inputScale: px.scale, inputZeroPoint: Int(px.zeroPoint))
        let mult = (0..<cout).map { px.scale * qw.scales[$0] / sy }
        var refs = [weights.add(qw.values, shape: wref.shape), weights.add(bias, shape: [cout]), weights.add(mult, shape: [cout])]
        if act == 2 { refs.append(weights.copy(op.weights[hasBias ? 2 : 1])) }
        var inputs = [x8]
        var rzp: Int64 = 0, rmul: Float = 0
        if residual {
            let r = op.inputs[1]
            inputs.append(try u8(r, grid: grid))
            guard let pr = grid[r] else { throw SegcError(.malformed, "\(name): no statistics for its residual") }
            rzp = Int64(pr.zeroPoint)
            rmul = pr.scale / sy
        }
        var ints = op.ints
        ints[hasBiasAt] = 1
        if relu { ints[actAt] = PlanOpSchema.Activation.relu }
        ints += [Int64(px.zeroPoint), Int64(py?.zeroPoint ?? 0), rzp, outU8 ? 0 : 1]
        let out = newValue(outU8 ? .u8 : .f32, plan.graph.values[y].shape, name: name, grid: py)
        if outU8 { u8Of[y] = out } else { f32Of[y] = out }
        emit(PlanOp(kind: t ? .qconvTranspose2d : .qconv2d, inputs: inputs, outputs: [out], weights: refs,
                    ints: ints, floats: [rmul]), name: name)
    }

    /// The finished plan: arena slots from the new liveness, metadata for int8.
    func finish(input: Int, output: Int, extras: [PlanExtraOutput]) -> PlanFile {
        var (first, last) = ArenaPlanner.liveness(values: values.count, ops: ops, input: input,
                                                  toEnd: [output] + extras.map(\.value))
        // qconv → add → activation → quantize (ENet's bottleneck ends) runs as one step in the
        // session (SegcRuntime's QConvTailFusion), which writes the uint8 copy while the conv's
        // input and the add's operands are still read: its slot must not be theirs, so it is
        // live from the conv on (ENet's int8 arena stays 42.0 MiB: other slots move).
        for k in ops.indices where k >= 3 && ops[k].kind == .quantize && ops[k - 1].outputs.first == ops[k].inputs.first
            && [.relu, .prelu].contains(ops[k - 1].kind) && ops[k - 2].kind == .add && ops[k - 3].kind == .qconv2d {
            for v in ops[k].outputs { first[v] = k - 3 }
        }
        var vals = values
        let size = ArenaPlanner.place(&vals, first: first, last: last)
        var meta = plan.metadata
        meta.extraOutputs = extras
        // Every uint8 value's grid, or none (then the plan has no float twin).
        let u8Values = values.indices.filter { values[$0].dtype == .u8 }
        meta.valueGrids = u8Values.allSatisfy { gridOf[$0] != nil }
            ? u8Values.map { PlanValueGrid(value: $0, scale: gridOf[$0]!.scale, zeroPoint: gridOf[$0]!.zeroPoint) } : []
        return PlanFile(metadata: meta, graph: PlanGraph(values: vals, ops: ops, input: input, output: output, arenaBytes: size),
                        weights: PlanWeights(owned: weights.bytes), sourceMap: sources)
    }
}
