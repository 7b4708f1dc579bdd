import SegcCore
import SegcIR

/// ONNX `Add` (numpy broadcasting) → `add`; constants fold.
enum AddImporter {
    static let entry = OpImporter("Add", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        try Elementwise.binary(&ctx, "Add", .add)
    }
}
