import SegcCore
import SegcIR

/// ONNX `Upsample` (deprecated, still written by old exporters; `scales` an attribute
/// in opsets 7–8, an input from 9) → `resize` with asymmetric coordinates (nearest: floor).
enum UpsampleImporter {
    static let entry = OpImporter("Upsample", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        let xs = ctx.type(x).shape
        guard xs.count == 4 else { throw ctx.unsupported("Upsample of a rank-\(xs.count) tensor") }
        let modeName = try ctx.attrString("mode", "nearest")
        let mode: Resize.Mode
        switch modeName {
        case "nearest": mode = .nearest
        case "linear", "bilinear": mode = .linear
        default: throw ctx.unsupported("Upsample mode '\(modeName)'")
        }
        let scales: [Float]
        if ctx.has(1) { scales = try ctx.requireConst(1, "scales").floats() }
        else if let a = ctx.node.attrs["scales"], case .floats(let v) = a { scales = v }
        else { throw ctx.malformed("missing scales") }
        guard scales.count == 4, scales[0] == 1, scales[1] == 1 else { throw ctx.unsupported("Upsample scales \(scales)") }
        var out = [0, 0]
        for d in 0..<2 {
            let s = scales[2 + d]
            guard s.isFinite, s > 0 else { throw ctx.malformed("scale \(s)") }
            let o = (Double(xs[2 + d]) * Double(s)).rounded(.down)
            guard o >= 1, o <= Double(Limits.maxDimension) else { throw ctx.malformed("output size \(o)") }
            out[d] = Int(o)
        }
        let r = Resize(mode: mode, coordinates: .asymmetric, nearest: .floor, outputH: out[0], outputW: out[1])
        ctx.setRuntime(0, try ctx.emit(.resize(r), [x])[0])
    }
}
