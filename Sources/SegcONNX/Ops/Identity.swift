import SegcCore
import SegcIR

/// ONNX `Identity` → nothing.
enum IdentityImporter {
    static let entry = OpImporter("Identity", 11...20, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) { try ShapeOps.alias(&ctx) }
}
