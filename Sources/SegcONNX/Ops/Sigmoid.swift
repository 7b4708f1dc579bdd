import SegcCore
import SegcIR
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ONNX `Sigmoid` → `sigmoid`.
enum SigmoidImporter {
    static let entry = OpImporter("Sigmoid", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        try Elementwise.unary(&ctx, .sigmoid) { 1 / (1 + expf(-$0)) }
    }
}
