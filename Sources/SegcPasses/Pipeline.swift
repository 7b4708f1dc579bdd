import SegcCore
import SegcIR

/// The two pipelines of architecture.md §3. `legalise` always runs; `optimise`
/// unless `convert --no-optimize`. The graph is verified after every pass.
package enum Pipeline {
    package static let legalise: [any GraphPass] = [EliminateDeadNodes(), ConcatConstantToPad()]

    package static let optimise: [any GraphPass] = [
        MovePointwiseConvBeforeResize(),
        BatchNormToAffine(),
        SplitAffineOverConcat(),
        FoldAffineIntoConv(),
        FuseResidualAdd(),
        FuseActivation(),
        FlushSubnormalWeights(),
    ]

    /// `optimise` for a quantized source model (real int8 on the model's own grids): Q/DQ
    /// pairs become value grids first, so the passes see through them. Every pass leaves
    /// alone a value with a grid that its rewrite would drop (the source rounds there), so
    /// only roundings that cannot change a result disappear (a ReLU on a zero-point-0 grid).
    package static let optimiseQuantized: [any GraphPass] = [QDQToGrids()] + optimise

    /// Runs `passes` in order, verifying after each; returns one report per pass.
    package static func run(_ passes: [any GraphPass], on graph: inout Graph) throws(SegcError) -> [PassReport] {
        var reports: [PassReport] = []
        for pass in passes {
            let before = graph.nodes.count
            let start = ContinuousClock.now
            try pass.run(&graph)
            do { try graph.verify() } catch {
                throw SegcError(.mismatch, "internal error: pass \(pass.name) produced an invalid graph: \(error.message)",
                                at: error.location)
            }
            let d = ContinuousClock.now - start
            let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
            reports.append(PassReport(name: pass.name, opsBefore: before, opsAfter: graph.nodes.count, milliseconds: ms))
        }
        return reports
    }
}

/// Removes nodes nobody reads and unreferenced values.
package struct EliminateDeadNodes: GraphPass {
    package let name = "eliminate-dead-nodes"
    package init() {}
    package func run(_ graph: inout Graph) throws(SegcError) { graph.eliminateDeadCode() }
}
