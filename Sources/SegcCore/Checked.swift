/// Overflow-checked arithmetic for sizes and offsets that come from files.
/// Input-derived values never use trapping `+`/`*`.
public enum Checked {
    @inlinable
    public static func add(_ a: Int, _ b: Int, _ what: @autoclosure () -> String = "size") throws(SegcError) -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        if o { throw SegcError(.malformed, "\(what()) overflows") }
        return r
    }

    @inlinable
    public static func mul(_ a: Int, _ b: Int, _ what: @autoclosure () -> String = "size") throws(SegcError) -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        if o { throw SegcError(.malformed, "\(what()) overflows") }
        return r
    }

    /// Product of all dims, checked against overflow and `Limits.maxTensorElements`.
    @inlinable
    public static func elementCount(_ dims: [Int], _ what: @autoclosure () -> String = "tensor") throws(SegcError) -> Int {
        if dims.count > Limits.maxTensorRank {
            throw SegcError(.limit, "\(what()) has rank \(dims.count), above the limit of \(Limits.maxTensorRank)")
        }
        var n = 1
        for d in dims {
            if d < 0 { throw SegcError(.malformed, "\(what()) has a negative dimension \(d)") }
            if d > Limits.maxDimension {
                throw SegcError(.limit, "\(what()) dimension \(d) exceeds the limit of \(Limits.maxDimension)")
            }
            n = try mul(n, d, what())
        }
        if n > Limits.maxTensorElements {
            throw SegcError(.limit, "\(what()) has \(n) elements, above the limit of \(Limits.maxTensorElements)")
        }
        return n
    }

    /// Converts a 64-bit value read from a file to `Int`, refusing negatives.
    @inlinable
    public static func nonNegative(_ v: Int64, _ what: @autoclosure () -> String) throws(SegcError) -> Int {
        if v < 0 { throw SegcError(.malformed, "\(what()) is negative (\(v))") }
        return Int(v)
    }

    @inlinable
    public static func nonNegative(_ v: UInt64, _ what: @autoclosure () -> String) throws(SegcError) -> Int {
        if v > UInt64(Int.max) { throw SegcError(.malformed, "\(what()) is too large (\(v))") }
        return Int(v)
    }
}
