import SegcCore
import SegcIR

/// ONNX `Shape` (start/end from opset 15): always a constant, since every IR
/// shape is static once the input size is fixed.
enum ShapeImporter {
    static let entry = OpImporter("Shape", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let shape = try ctx.sym(0).shape
        let r = shape.count
        var start = try ctx.attrInt("start", 0), end = try ctx.attrInt("end", r)
        if start < 0 { start += r }
        if end < 0 { end += r }
        start = min(max(start, 0), r); end = min(max(end, 0), r)
        let v = start < end ? shape[start..<end].map { Int64($0) } : []
        ctx.set(0, .const(Tensor(dtype: .i64, shape: [v.count], storage: .i64(v))))
    }
}
