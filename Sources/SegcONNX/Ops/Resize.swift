import SegcCore
import SegcIR

/// ONNX `Resize` over H and W → `resize`: every mode (nearest, linear, cubic), every
/// coordinate transformation of opset 19, `scales` or `sizes` (with `axes` and
/// `keep_aspect_ratio_policy`), `antialias`, `exclude_outside`, `cubic_coeff_a`, and
/// `tf_crop_and_resize` with its ROI and `extrapolation_value`.
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
        let policy = str("keep_aspect_ratio_policy", "stretch")
        if !["stretch", "not_larger", "not_smaller"].contains(policy) {
            problems.append("Resize keep_aspect_ratio_policy '\(policy)'")
        }
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
        let problems = check(ctx.node)
        if !problems.isEmpty { throw ctx.unsupported(problems.joined(separator: "; ")) }
        let mode = Resize.Mode(rawValue: try ctx.attrString("mode", "nearest")) ?? .nearest
        let coords = Resize.Coordinates(rawValue: try ctx.attrString("coordinate_transformation_mode", "half_pixel")) ?? .halfPixel
        let nearest = Resize.NearestRounding(rawValue: try ctx.attrString("nearest_mode", "round_prefer_floor")) ?? .roundPreferFloor
        let antialias = try ctx.attrInt("antialias", 0) != 0
        if antialias && mode == .nearest { throw ctx.malformed("antialias with mode nearest") }
        let excludeOutside = try ctx.attrInt("exclude_outside", 0) != 0
        let policy = try ctx.attrString("keep_aspect_ratio_policy", "stretch")
        guard ["stretch", "not_larger", "not_smaller"].contains(policy) else {
            throw ctx.unsupported("Resize keep_aspect_ratio_policy '\(policy)'")
        }

        var axes = [0, 1, 2, 3]
        if let a = try ctx.attrInts("axes") {
            axes = []
            for v in a { axes.append(try ctx.axis(v, rank: 4)) }
            if Set(axes).count != axes.count { throw ctx.malformed("repeated axes \(a)") }
        }
        // Output sizes and the scale factors the coordinate transform uses, as onnx's
        // reference computes them (`_interpolate_nd`): from `sizes`, scale = out/in (one
        // common scale under keep_aspect_ratio_policy, output = round-half-up(scale·in));
        // from `scales`, output = floor(scale·in) and the *given* scale maps coordinates.
        var out = xs
        var scale = [Double](repeating: 1, count: 4)
        let scales = try ctx.constant(2).flatMap { $0.storage.count > 0 ? $0 : nil }
        let sizes = try ctx.constant(3).flatMap { $0.storage.count > 0 ? $0 : nil }
        if ctx.has(3) && sizes == nil, case .rt = try ctx.sym(3) { throw ctx.unsupported("Resize with runtime sizes") }
        if ctx.has(2) && scales == nil, case .rt = try ctx.sym(2) { throw ctx.unsupported("Resize with runtime scales") }
        if let s = sizes {
            let v = try ctx.ints(s.int64s(), "sizes")
            guard v.count == axes.count else { throw ctx.malformed("sizes has \(v.count) values for \(axes.count) axes") }
            for (k, a) in axes.enumerated() {
                guard v[k] >= 1, v[k] <= Limits.maxDimension else { throw ctx.malformed("output size \(v[k])") }
                out[a] = v[k]; scale[a] = Double(v[k]) / Double(xs[a])
            }
            if policy != "stretch" {
                let common = axes.map { scale[$0] }.reduce(policy == "not_larger" ? Double.infinity : 0) {
                    policy == "not_larger" ? min($0, $1) : max($0, $1)
                }
                for a in axes {
                    scale[a] = common
                    out[a] = Int(common * Double(xs[a]) + 0.5)
                }
            }
        } else if let s = scales {
            let v = s.floats()
            guard v.count == axes.count else { throw ctx.malformed("scales has \(v.count) values for \(axes.count) axes") }
            for (k, a) in axes.enumerated() {
                guard v[k].isFinite, v[k] > 0 else { throw ctx.malformed("scale \(v[k])") }
                let o = (Double(xs[a]) * Double(v[k])).rounded(.down)
                guard o >= 1, o <= Double(Limits.maxDimension) else { throw ctx.malformed("output size \(o)") }
                out[a] = Int(o); scale[a] = Double(v[k])
            }
        } else {
            throw ctx.malformed("neither scales nor sizes given")
        }
        if out[0] != xs[0] || out[1] != xs[1] || scale[0] != 1 || scale[1] != 1 {
            throw ctx.unsupported("Resize of the batch or channel axis")
        }

        var roi: [Float] = [0, 0, 1, 1]
        var extrapolation: Float = 0
        if coords == .tfCropAndResize {
            let r = try ctx.requireConst(1, "roi").floats()
            guard r.count == 2 * axes.count else { throw ctx.malformed("roi has \(r.count) values for \(axes.count) axes") }
            var full = [Float](repeating: 0, count: 4) + [Float](repeating: 1, count: 4)
            for (k, a) in axes.enumerated() { full[a] = r[k]; full[4 + a] = r[axes.count + k] }
            if full[0] != 0 || full[1] != 0 || full[4] != 1 || full[5] != 1 { throw ctx.unsupported("Resize crop of the batch or channel axis") }
            guard full.allSatisfy(\.isFinite) else { throw ctx.malformed("roi \(r)") }
            roi = [full[2], full[3], full[6], full[7]]
            extrapolation = try ctx.attrFloat("extrapolation_value", 0)
        }

        // The fast kernel maps coordinates with out/in; anything else takes the general one.
        let ratioScales = scale[2] == Double(out[2]) / Double(xs[2]) && scale[3] == Double(out[3]) / Double(xs[3])
        var r = Resize(mode: mode, coordinates: coords, nearest: nearest, outputH: out[2], outputW: out[3])
        if mode == .cubic || antialias || excludeOutside || coords == .halfPixelSymmetric || coords == .tfCropAndResize || !ratioScales {
            var g = Resize.General(scaleH: Float(scale[2]), scaleW: Float(scale[3]))
            g.cubicA = try ctx.attrFloat("cubic_coeff_a", -0.75)
            g.excludeOutside = excludeOutside
            g.antialias = antialias
            g.roi = roi
            g.extrapolation = extrapolation
            guard g.cubicA.isFinite, g.extrapolation.isFinite else { throw ctx.malformed("cubic_coeff_a/extrapolation_value") }
            r.general = g
        }
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
