import SegcCore
import SegcIR

/// ONNX `Sub` (numpy broadcasting) → `sub`; constants fold.
enum SubImporter {
    static let entry = OpImporter("Sub", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        try Elementwise.binary(&ctx, "Sub", .sub)
    }
}
