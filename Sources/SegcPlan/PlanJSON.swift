import SegcCore

/// A JSON value as stored in `META` (Docs/PlanFormat.md §5).
///
/// The encoder is deterministic (sorted keys, no whitespace, shortest round-trip
/// numbers); the parser is iterative with an explicit stack and a depth limit, so
/// hostile input can neither recurse deeply nor trap.
package enum PlanJSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([PlanJSON])
    case object([String: PlanJSON])

    /// Deepest nesting of arrays/objects accepted (and written).
    package static let maxDepth = 64

    package subscript(key: String) -> PlanJSON? {
        if case .object(let d) = self { return d[key] }
        return nil
    }
}

// MARK: - Encoding

extension PlanJSON {
    /// Compact UTF-8 JSON with keys sorted by their UTF-8 bytes.
    package func encoded() throws(SegcError) -> [UInt8] {
        var out: [UInt8] = []
        try PlanJSON.encode(self, into: &out, depth: 0)
        return out
    }

    private static func encode(_ v: PlanJSON, into out: inout [UInt8], depth: Int) throws(SegcError) {
        switch v {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case .number(let d): out.append(contentsOf: try numberText(d).utf8)
        case .string(let s): encodeString(s, into: &out)
        case .array(let a):
            if depth >= maxDepth { throw SegcError(.limit, "JSON nesting deeper than \(maxDepth)") }
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try encode(e, into: &out, depth: depth + 1)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let d):
            if depth >= maxDepth { throw SegcError(.limit, "JSON nesting deeper than \(maxDepth)") }
            out.append(UInt8(ascii: "{"))
            let keys = d.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            for (i, k) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                encodeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                if let e = d[k] { try encode(e, into: &out, depth: depth + 1) }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Integers (|d| < 2^53) as integers, everything else as Swift's shortest
    /// round-trip form, which is valid JSON for finite values.
    package static func numberText(_ d: Double) throws(SegcError) -> String {
        if !d.isFinite { throw SegcError(.malformed, "JSON cannot hold the non-finite number \(d)") }
        if d == d.rounded(.towardZero) && abs(d) < 9_007_199_254_740_992 {
            return String(Int64(d))
        }
        return d.description
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func encodeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - Parsing

extension PlanJSON {
    private enum Frame {
        case array([PlanJSON])
        case object([String: PlanJSON], key: String)
    }

    /// Parses one JSON document filling all of `bytes`. Errors are `.malformed`
    /// with the byte offset inside `bytes` in the message.
    package static func parse(_ bytes: UnsafeRawBufferPointer) throws(SegcError) -> PlanJSON {
        var p = Parser(b: bytes)
        return try p.document()
    }

    package static func parse(_ bytes: [UInt8]) throws(SegcError) -> PlanJSON {
        var result: Result<PlanJSON, SegcError> = .success(.null)
        bytes.withUnsafeBytes { raw in
            do throws(SegcError) { result = .success(try parse(raw)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    private struct Parser {
        let b: UnsafeRawBufferPointer
        var i = 0

        func fail(_ m: String) -> SegcError { SegcError(.malformed, "invalid JSON at byte \(i): \(m)") }

        mutating func ws() {
            while i < b.count {
                let c = b[i]
                if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 } else { break }
            }
        }

        func peek() -> UInt8? { i < b.count ? b[i] : nil }

        mutating func expect(_ c: UInt8, _ what: String) throws(SegcError) {
            ws()
            guard peek() == c else { throw fail("expected \(what)") }
            i += 1
        }

        mutating func key() throws(SegcError) -> String {
            ws()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected an object key") }
            let k = try string()
            try expect(UInt8(ascii: ":"), "':'")
            return k
        }

        mutating func document() throws(SegcError) -> PlanJSON {
            var stack: [Frame] = []
            while true {
                ws()
                guard let c = peek() else { throw fail("unexpected end") }
                var value: PlanJSON
                switch c {
                case UInt8(ascii: "{"):
                    if stack.count >= PlanJSON.maxDepth { throw fail("nesting deeper than \(PlanJSON.maxDepth)") }
                    i += 1; ws()
                    if peek() == UInt8(ascii: "}") { i += 1; value = .object([:]); break }
                    stack.append(.object([:], key: try key()))
                    continue
                case UInt8(ascii: "["):
                    if stack.count >= PlanJSON.maxDepth { throw fail("nesting deeper than \(PlanJSON.maxDepth)") }
                    i += 1; ws()
                    if peek() == UInt8(ascii: "]") { i += 1; value = .array([]); break }
                    stack.append(.array([]))
                    continue
                case UInt8(ascii: "\""): value = .string(try string())
                case UInt8(ascii: "t"): try literal("true"); value = .bool(true)
                case UInt8(ascii: "f"): try literal("false"); value = .bool(false)
                case UInt8(ascii: "n"): try literal("null"); value = .null
                default: value = .number(try number())
                }
                // Attach the completed value to its parent, closing containers.
                attach: while true {
                    guard let top = stack.popLast() else {
                        ws()
                        if i != b.count { throw fail("trailing bytes after the document") }
                        return value
                    }
                    switch top {
                    case .array(var a):
                        a.append(value)
                        ws()
                        if peek() == UInt8(ascii: ",") { i += 1; stack.append(.array(a)); break attach }
                        if peek() == UInt8(ascii: "]") { i += 1; value = .array(a); continue attach }
                        throw fail("expected ',' or ']'")
                    case .object(var d, let k):
                        if d[k] != nil { throw fail("duplicate key '\(k)'") }
                        d[k] = value
                        ws()
                        if peek() == UInt8(ascii: ",") { i += 1; stack.append(.object(d, key: try key())); break attach }
                        if peek() == UInt8(ascii: "}") { i += 1; value = .object(d); continue attach }
                        throw fail("expected ',' or '}'")
                    }
                }
            }
        }

        mutating func literal(_ s: String) throws(SegcError) {
            for c in s.utf8 {
                guard peek() == c else { throw fail("invalid literal") }
                i += 1
            }
        }

        mutating func digits() -> Int {
            var n = 0
            while let c = peek(), c >= 0x30, c <= 0x39 { i += 1; n += 1 }
            return n
        }

        mutating func number() throws(SegcError) -> Double {
            let start = i
            if peek() == UInt8(ascii: "-") { i += 1 }
            guard let first = peek(), first >= 0x30, first <= 0x39 else { throw fail("invalid value") }
            if first == 0x30 { i += 1 } else { _ = digits() }
            if peek() == UInt8(ascii: ".") {
                i += 1
                if digits() == 0 { throw fail("digits expected after '.'") }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                i += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { i += 1 }
                if digits() == 0 { throw fail("digits expected in the exponent") }
            }
            if i - start > 512 { throw fail("number longer than 512 characters") }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            guard let d = Double(text), d.isFinite else { throw fail("number \(text) does not fit a double") }
            return d
        }

        mutating func hex4() throws(SegcError) -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let c = peek() else { throw fail("truncated \\u escape") }
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        static func appendUTF8(_ s: UInt32, _ out: inout [UInt8]) {
            switch s {
            case 0..<0x80: out.append(UInt8(s))
            case 0x80..<0x800:
                out.append(UInt8(0xC0 | (s >> 6))); out.append(UInt8(0x80 | (s & 0x3F)))
            case 0x800..<0x10000:
                out.append(UInt8(0xE0 | (s >> 12))); out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (s & 0x3F)))
            default:
                out.append(UInt8(0xF0 | (s >> 18))); out.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
                out.append(UInt8(0x80 | ((s >> 6) & 0x3F))); out.append(UInt8(0x80 | (s & 0x3F)))
            }
        }

        /// At an opening quote.
        mutating func string() throws(SegcError) -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard let c = peek() else { throw fail("unterminated string") }
                i += 1
                if c == UInt8(ascii: "\"") { break }
                if c < 0x20 { throw fail("control character in a string") }
                if c != UInt8(ascii: "\\") { out.append(c); continue }
                guard let e = peek() else { throw fail("unterminated string") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var s = try hex4()
                    if s >= 0xD800 && s < 0xDC00 {
                        guard peek() == UInt8(ascii: "\\") else { throw fail("lone surrogate") }
                        i += 1
                        guard peek() == UInt8(ascii: "u") else { throw fail("lone surrogate") }
                        i += 1
                        let lo = try hex4()
                        guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("lone surrogate") }
                        s = 0x10000 + ((s - 0xD800) << 10) + (lo - 0xDC00)
                    } else if s >= 0xDC00 && s < 0xE000 {
                        throw fail("lone surrogate")
                    }
                    Parser.appendUTF8(s, &out)
                default: throw fail("invalid escape")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
            return s
        }
    }
}
