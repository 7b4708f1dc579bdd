import SegcCore
import SegcIR

/// The torch storage classes of product.md §2.5 that may appear in persistent ids.
enum StorageClass: String, Sendable, CaseIterable {
    case float = "FloatStorage"
    case half = "HalfStorage"
    case bfloat16 = "BFloat16Storage"
    case double = "DoubleStorage"
    case long = "LongStorage"
    case int = "IntStorage"
    case short = "ShortStorage"
    case char = "CharStorage"
    case byte = "ByteStorage"
    case bool = "BoolStorage"
    case qint8 = "QInt8Storage"
    case quint8 = "QUInt8Storage"

    /// Bytes per element in the file.
    var elementSize: Int {
        switch self {
        case .double, .long: return 8
        case .float, .int: return 4
        case .half, .bfloat16, .short: return 2
        case .char, .byte, .bool, .qint8, .quint8: return 1
        }
    }

    /// The torch dtype name (`torch.float32` without the module).
    var torchDType: String {
        switch self {
        case .float: return "float32"
        case .half: return "float16"
        case .bfloat16: return "bfloat16"
        case .double: return "float64"
        case .long: return "int64"
        case .int: return "int32"
        case .short: return "int16"
        case .char: return "int8"
        case .byte: return "uint8"
        case .bool: return "bool"
        case .qint8: return "qint8"
        case .quint8: return "quint8"
        }
    }

    /// The segc dtype a tensor of this storage is imported as.
    var importedDType: DType {
        switch self {
        case .float, .half, .bfloat16: return .f32
        case .double: return .f64
        case .long: return .i64
        case .int, .short: return .i32
        case .char: return .i8
        case .byte: return .u8
        case .bool: return .bool
        case .qint8: return .qi8
        case .quint8: return .qu8
        }
    }

    var isQuantized: Bool { self == .qint8 || self == .quint8 }
}
