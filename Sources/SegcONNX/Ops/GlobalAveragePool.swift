import SegcCore
import SegcIR

/// ONNX `GlobalAveragePool` → `globalAveragePool`.
enum GlobalAveragePoolImporter {
    static let entry = OpImporter("GlobalAveragePool", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        guard ctx.type(x).shape.count == 4 else { throw ctx.unsupported("GlobalAveragePool on a non-4-D input") }
        ctx.setRuntime(0, try ctx.emit(.globalAveragePool, [x])[0])
    }
}
