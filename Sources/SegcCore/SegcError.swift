/// The one error type of segc (architecture.md §5).
///
/// Every refusal names the file, where in it (a byte offset, record, key, node,
/// section or layer) and the cause. Only the CLI prints errors or picks exit codes.
public struct SegcError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The bytes do not follow the format.
        case malformed
        /// Well-formed but not something segc implements.
        case unsupported
        /// Deliberately refused (pickle global outside the allowlist, TorchScript, …).
        case refused
        /// A limit of product.md §2.8 was exceeded.
        case limit
        /// A check failed (shape mismatch, checksum mismatch, class count, …).
        case mismatch
        /// The operating system refused (open, read, write, rename).
        case io
        /// Bad command-line usage.
        case usage
    }

    public enum Location: Sendable, Equatable, CustomStringConvertible {
        case offset(Int)
        case record(String)
        case key(String)
        case node(String)
        case section(String)
        case layer(String)
        case recordOffset(String, Int)

        public var description: String {
            switch self {
            case .offset(let o): return "at byte \(o)"
            case .record(let r): return r
            case .key(let k): return "key '\(k)'"
            case .node(let n): return "node '\(n)'"
            case .section(let s): return "section \(s)"
            case .layer(let l): return "layer '\(l)'"
            case .recordOffset(let r, let o): return "\(r) at byte \(o)"
            }
        }
    }

    public var kind: Kind
    public var file: String?
    public var location: Location?
    public var message: String

    public init(_ kind: Kind, _ message: String, file: String? = nil, at location: Location? = nil) {
        self.kind = kind
        self.message = message
        self.file = file
        self.location = location
    }

    /// `<file>: <where>: <what>` — the CLI prefixes `error: `.
    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let location { parts.append(location.description) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }

    /// The same error attributed to `file` when it did not name one yet.
    public func inFile(_ name: String) -> SegcError {
        var copy = self
        if copy.file == nil { copy.file = name }
        return copy
    }

    /// The same error with a location, when it did not have one yet.
    public func at(_ location: Location) -> SegcError {
        var copy = self
        if copy.location == nil { copy.location = location }
        return copy
    }
}
