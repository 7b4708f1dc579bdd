import SegcCore
import SegcIR

/// ONNX `Mul` (numpy broadcasting) → `mul`; constants fold.
enum MulImporter {
    static let entry = OpImporter("Mul", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        try Elementwise.binary(&ctx, "Mul", .mul)
    }
}
