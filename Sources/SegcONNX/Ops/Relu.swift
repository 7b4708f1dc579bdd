import SegcCore
import SegcIR

/// ONNX `Relu` → `relu`.
enum ReluImporter {
    static let entry = OpImporter("Relu", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        try Elementwise.unary(&ctx, .relu) { $0 > 0 ? $0 : 0 }
    }
}
