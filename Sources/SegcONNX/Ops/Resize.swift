import SegcCore
import SegcIR

/// ONNX `Resize` (nearest/linear; half_pixel, pytorch_half_pixel, align_corners,
/// asymmetric; all nearest modes; `scales` or `sizes`) → `resize` over H and W.
enum ResizeImporter {
    static let entry = OpImporter("Resize", 10...25, run, check: check)

    /// Mode checks that need no inputs.
    static func check(_ n: PNode) -> [String] {
        var problems: [String] = []
        func str(_ k: String, _ d: String) -> String {
            if case .s(let v)? = n.attrs[k] { return v }
            return d
        }
        let mode = str("mode", "nearest")
        if Resize.Mode(rawValue: mode) == nil { problems.append("Resize mode '\(mode)'") }
        let coord = str("coordinate_transformation_mode", "half_pixel")
        if Resize.Coordinates(rawValue: coord) == nil { problems.append("Resize coordinate_transformation_mode '\(coord)'") }
        let nearest = str("nearest_mode", "round_prefer_floor")
        if mode == "nearest" && Resize.NearestRounding(rawValue: nearest) == nil {
            problems.append("Resize nearest_mode '\(nearest)'")
        }
        return problems
    }

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        if ctx.opset < 11 { return try resize10(&ctx) }
        let x = try ctx.runtime(0)
        let xs = ctx.type(x).shape
        guard xs.count == 4 else { throw ctx.unsupported("Resize of a rank-\(xs.count) tensor") }
        var problems = check(ctx.node)
        let modeName = try ctx.attrString("mode", "nearest")
        let coordName = try ctx.attrString("coordinate_transformation_mode", "half_pixel")
        let nearestName = try ctx.attrString("nearest_mode", "round_prefer_floor")
        let mode = Resize.Mode(rawValue: modeName)
        let coords = Resize.Coordinates(rawValue: coordName)
        let nearest = Resize.NearestRounding(rawValue: nearestName)
        if try ctx.attrInt("antialias", 0) != 0 { problems.append("Resize antialias=1") }
        if try ctx.attrInt("exclude_outside", 0) != 0 { problems.append("Resize exclude_outside=1") }
        let policy = try ctx.attrString("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch" { problems.append("Resize keep_aspect_ratio_policy '\(policy)'") }
        if !problems.isEmpty { throw ctx.unsupported(problems.joined(separator: "; ")) }
        guard let mode, let coords else { return }

        var axes = [0, 1, 2, 3]
        if let a = try ctx.attrInts("axes") {
            axes = []
            for v in a { axes.append(try ctx.axis(v, rank: 4)) }
        }
        var out = xs
        let scales = try ctx.constant(2).flatMap { $0.storage.count > 0 ? $0 : nil }
        let sizes = try ctx.constant(3).flatMap { $0.storage.count > 0 ? $0 : nil }
        if ctx.has(3) && sizes == nil, case .rt = try ctx.sym(3) { throw ctx.unsupported("Resize with runtime sizes") }
        if ctx.has(2) && scales == nil, case .rt = try ctx.sym(2) { throw ctx.unsupported("Resize with runtime scales") }
        if let s = sizes {
            let v = try ctx.ints(s.int64s(), "sizes")
            guard v.count == axes.count else { throw ctx.malformed("sizes has \(v.count) values for \(axes.count) axes") }
            for (k, a) in axes.enumerated() { out[a] = v[k] }
        } else if let s = scales {
            let v = s.floats()
            guard v.count == axes.count else { throw ctx.malformed("scales has \(v.count) values for \(axes.count) axes") }
            for (k, a) in axes.enumerated() {
                guard v[k].isFinite, v[k] > 0 else { throw ctx.malformed("scale \(v[k])") }
                let o = (Double(xs[a]) * Double(v[k])).rounded(.down)
                guard o >= 1, o <= Double(Limits.maxDimension) else { throw ctx.malformed("output size \(o)") }
                out[a] = Int(o)
                if Double(out[a]) != Double(xs[a]) * Double(v[k]) && a >= 2 {
                    ctx.warnings.append("node '\(ctx.node.name)': Resize scale \(v[k]) gives a fractional size; segc maps coordinates with the size ratio")
                }
            }
        } else {
            throw ctx.malformed("neither scales nor sizes given")
        }
        if out[0] != xs[0] || out[1] != xs[1] { throw ctx.unsupported("Resize of the batch or channel axis") }
        if out[2] < 1 || out[3] < 1 || out[2] > Limits.maxDimension || out[3] > Limits.maxDimension {
            throw ctx.malformed("output size \(out)")
        }
        let r = Resize(mode: mode, coordinates: coords, nearest: nearest ?? .floor, outputH: out[2], outputW: out[3])
        ctx.setRuntime(0, try ctx.emit(.resize(r), [x])[0])
    }

    /// Resize-10 (inputs X and scales, attribute `mode` only) is Upsample-9 under a new
    /// name: `x_in = x_out / scale`, nearest by floor. Its nearest *down*sampling is
    /// rounded differently by different runtimes, so segc refuses it rather than pick one.
    static func resize10(_ ctx: inout ImportContext) throws(SegcError) {
        let mode = try ctx.attrString("mode", "nearest")
        if mode == "nearest", let s = try ctx.constant(1), s.floats().contains(where: { $0 < 1 }) {
            throw ctx.unsupported("Resize (opset 10) nearest downsampling")
        }
        try UpsampleImporter.run(&ctx)
    }
}
