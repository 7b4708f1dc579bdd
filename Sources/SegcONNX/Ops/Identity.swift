import SegcCore
import SegcIR

/// ONNX `Identity` → nothing.
enum IdentityImporter {
    static let entry = OpImporter("Identity", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) { try ShapeOps.alias(&ctx) }
}
