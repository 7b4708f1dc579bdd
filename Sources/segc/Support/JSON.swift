/// Minimal ordered JSON for `--json` output: keys keep insertion order so output
/// is stable, and doubles print in Swift's shortest round-trip form.
indirect enum JSON {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    var text: String {
        var s = ""
        write(into: &s)
        return s
    }

    private func write(into s: inout String) {
        switch self {
        case .null: s += "null"
        case .bool(let b): s += b ? "true" : "false"
        case .int(let i): s += String(i)
        case .double(let d): s += d.isFinite ? String(d) : "null"
        case .string(let str): JSON.quote(str, into: &s)
        case .array(let a):
            s += "["
            for (i, v) in a.enumerated() { if i > 0 { s += ", " }; v.write(into: &s) }
            s += "]"
        case .object(let o):
            s += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { s += ", " }
                JSON.quote(k, into: &s); s += ": "; v.write(into: &s)
            }
            s += "}"
        }
    }

    static func quote(_ str: String, into s: inout String) {
        s += "\""
        for u in str.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else { s.unicodeScalars.append(u) }
            }
        }
        s += "\""
    }
}

extension JSON {
    static func ints(_ a: [Int]) -> JSON { .array(a.map { .int($0) }) }
    static func strings(_ a: [String]) -> JSON { .array(a.map { .string($0) }) }
}
