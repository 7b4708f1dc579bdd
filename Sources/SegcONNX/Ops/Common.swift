import SegcCore
import SegcIR

/// Kernel, strides, pads (top, left, bottom, right) and dilations of a 2-D
/// Conv/ConvTranspose/pool node, `auto_pad` resolved.
struct Spatial2D {
    var kernel: [Int]
    var strides: [Int]
    var pads: [Int]
    var dilations: [Int]

    static func read(_ ctx: ImportContext, kernel defaultKernel: [Int]?, inputHW: [Int]?,
                     transposed: Bool = false) throws(SegcError) -> Spatial2D {
        guard let k = try ctx.attrInts("kernel_shape") ?? defaultKernel else {
            throw ctx.malformed("missing kernel_shape")
        }
        if k.count != 2 { throw ctx.unsupported("\(ctx.node.opType) with a \(k.count)-D kernel") }
        let kernel = try ctx.spatial(k, "kernel_shape", min: 1)
        let strides = try ctx.spatial(try ctx.attrInts("strides") ?? [1, 1], "strides", min: 1)
        let dilations = try ctx.spatial(try ctx.attrInts("dilations") ?? [1, 1], "dilations", min: 1)
        if strides.count != 2 || dilations.count != 2 { throw ctx.malformed("strides/dilations must have 2 values") }
        var pads = try ctx.spatial(try ctx.attrInts("pads") ?? [0, 0, 0, 0], "pads", min: 0)
        if pads.count != 4 { throw ctx.malformed("pads must have 4 values") }
        let autoPad = try ctx.attrString("auto_pad", "NOTSET")
        switch autoPad {
        case "NOTSET", "": break
        case "VALID": pads = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            if transposed { break }  // ConvTranspose derives SAME padding from its output size itself
            guard let hw = inputHW else { throw ctx.unsupported("\(ctx.node.opType) auto_pad '\(autoPad)'") }
            for d in 0..<2 {
                let out = (hw[d] + strides[d] - 1) / strides[d]
                let total = max((out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - hw[d], 0)
                let small = total / 2, big = total - small
                pads[d] = autoPad == "SAME_UPPER" ? small : big
                pads[d + 2] = autoPad == "SAME_UPPER" ? big : small
            }
        default: throw ctx.unsupported("\(ctx.node.opType) auto_pad '\(autoPad)'")
        }
        return Spatial2D(kernel: kernel, strides: strides, pads: pads, dilations: dilations)
    }
}

/// Shared by the elementwise importers.
enum Elementwise {
    /// Unary float op: folded on constants, one IR op on runtime values.
    static func unary(_ ctx: inout ImportContext, _ op: Op, _ f: (Float) -> Float) throws(SegcError) {
        if let t = try ctx.constant(0) {
            ctx.set(0, .const(Tensor(t.floats().map(f), shape: t.shape)))
            return
        }
        let x = try ctx.runtime(0)
        ctx.setRuntime(0, try ctx.emit(op, [x])[0])
    }

    /// Binary arithmetic: constants fold, the max-pool index arithmetic of the
    /// unpool patterns becomes index bookkeeping, `x * 0` becomes a zero
    /// constant (TorchScript's zero buffer), the rest one IR op.
    static func binary(_ ctx: inout ImportContext, _ name: String, _ op: Op) throws(SegcError) {
        let a = try ctx.sym(0), b = try ctx.sym(1)
        if case .const(let x) = a, case .const(let y) = b {
            ctx.set(0, .const(try Fold.binary(x, y, name)))
            return
        }
        if case .indices(let id, let plane, let shape) = a, case .const(let c) = b {
            if let r = try indexArithmetic(ctx, name, id: id, plane: plane, shape: shape, c) {
                ctx.set(0, r)
                return
            }
            throw ctx.unsupported("\(name) on max-pool indices outside the unpool pattern")
        }
        if name == "Add", case .const(let c) = a, case .indices(let id, let plane, let shape) = b,
           let r = try indexArithmetic(ctx, name, id: id, plane: plane, shape: shape, c) {
            ctx.set(0, r)
            return
        }
        if name == "Mul" {
            for (s, other) in [(a, b), (b, a)] {
                if case .const(let c) = s, c.isAllZero, !c.isIntegral, case .rt = other {
                    let shape = try Fold.broadcastShape(a.shape, b.shape)
                    let n = try Fold.count(shape, "Mul result")
                    ctx.set(0, .const(Tensor([Float](repeating: 0, count: n), shape: shape)))
                    return
                }
            }
        }
        let x = try ctx.value(0), y = try ctx.value(1)
        ctx.setRuntime(0, try ctx.emit(op, [x, y])[0])
    }

    /// `Sub(global indices, plane offsets)` → per-plane indices;
    /// `Add(per-plane indices, plane offsets)` → global indices.
    private static func indexArithmetic(_ ctx: ImportContext, _ name: String, id: ValueID, plane: Int?,
                                        shape: [Int], _ c: Tensor) throws(SegcError) -> Sym? {
        let irShape = ctx.type(id).shape
        guard shape == irShape, irShape.count == 4, c.isIntegral else { return nil }
        let (n, ch) = (irShape[0], irShape[1])
        // Offsets must be constant over H and W and indexed by (n, c).
        let cs = c.shape
        if cs.count > 4 { return nil }
        let padded = [Int](repeating: 1, count: 4 - cs.count) + cs
        if padded[2] != 1 || padded[3] != 1 { return nil }
        if (padded[0] != 1 && padded[0] != n) || (padded[1] != 1 && padded[1] != ch) { return nil }
        let v = c.int64s()
        func off(_ i: Int, _ k: Int) -> Int64 {
            let ii = padded[0] == 1 ? 0 : i, kk = padded[1] == 1 ? 0 : k
            return v[ii * padded[1] + kk]
        }
        func matches(_ p: Int) -> Bool {
            for i in 0..<n {
                for k in 0..<ch {
                    // p may come from the file (Add): an offset past Int64 matches nothing.
                    let (e, o) = Int64(i * ch + k).multipliedReportingOverflow(by: Int64(p))
                    if o || off(i, k) != e { return false }
                }
            }
            return true
        }
        if name == "Sub", let p = plane {
            return matches(p) ? .indices(id, plane: nil, shape: shape) : nil
        }
        if name == "Add", plane == nil {
            guard n * ch > 1 else { return nil }
            let p = Int(ch > 1 ? off(0, 1) : off(1, 0))
            // The plane of an unpool output: its n·ch planes must fit the element limit, so
            // that the patterns' products (ScatterND's N·C·plane) stay in range.
            let (total, o) = (n * ch).multipliedReportingOverflow(by: p)
            guard p > 0, !o, total <= Limits.maxTensorElements, matches(p) else { return nil }
            return .indices(id, plane: p, shape: shape)
        }
        return nil
    }
}

/// Shape-only ops on any value: constants are reshaped, runtime values become
/// views, pool indices and pending unpools keep track of their shape.
enum ShapeOps {
    static func reshape(_ ctx: inout ImportContext, _ s: Sym, to shape: [Int]) throws(SegcError) {
        let n = try Checked.elementCount(shape, "\(ctx.node.opType) result")
        if n != (try Checked.elementCount(s.shape, "\(ctx.node.opType) input")) {
            throw SegcError(.mismatch, "\(ctx.node.opType): cannot reshape \(s.shape) to \(shape)")
        }
        switch s {
        case .const(let t): ctx.set(0, .const(t.reshaped(shape)))
        case .rt(let id, _): ctx.set(0, .rt(id, shape))
        case .indices(let id, let plane, _): ctx.set(0, .indices(id, plane: plane, shape: shape))
        case .unpooled(let x, let idx, let plane, _):
            // The final Reshape of an unpool pattern: [N, C, Ho, Wo].
            let xs = ctx.type(x).shape
            if shape.count == 4, shape[0] == xs[0], shape[1] == xs[1], shape[2] * shape[3] == plane {
                let y = try ctx.emit(.maxUnpool2d(MaxUnpool2d(outputH: shape[2], outputW: shape[3])), [x, idx])[0]
                ctx.setRuntime(0, y)
            } else {
                ctx.set(0, .unpooled(x: x, idx: idx, plane: plane, shape: shape))
            }
        }
    }

    /// A runtime value passed through unchanged (Identity, Dropout, Cast to its own type).
    static func alias(_ ctx: inout ImportContext) throws(SegcError) {
        ctx.set(0, try ctx.sym(0))
    }
}
