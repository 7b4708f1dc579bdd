import SegcCore
import SegcIR

/// One graph rewrite. Every pass leaves a graph that `verify()` accepts and
/// that computes the same function (checked against `SegcReference` in tests).
package protocol GraphPass: Sendable {
    /// Stable kebab-case name, recorded in the plan's `passes` metadata.
    var name: String { get }
    func run(_ graph: inout Graph) throws(SegcError)
}

/// What one pass did, for `convert --json`.
package struct PassReport: Sendable {
    package var name: String
    package var opsBefore: Int
    package var opsAfter: Int
    package var milliseconds: Double
}
