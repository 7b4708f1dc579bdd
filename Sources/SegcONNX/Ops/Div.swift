import SegcCore
import SegcIR

/// ONNX `Div` (numpy broadcasting) → `div`; constants fold.
enum DivImporter {
    static let entry = OpImporter("Div", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        try Elementwise.binary(&ctx, "Div", .div)
    }
}
