import SegcCore
import SegcPlan
import SegcRuntime

/// `segc bench --profile`: mean wall time of each plan op over profiled runs, by layer and
/// by op kind. The runs are separate from the timed ones, so the clock reads between ops
/// do not touch the reported median.
struct OpProfile {
    struct Entry { var layer: String; var kind: String; var ms: Double }
    var runs: Int
    var perOp: [Entry]
    var totalMs: Double

    static func measure(session: SegcSession, model: SegcModel, input: [Float], runs: Int) throws -> OpProfile {
        let plan = model.plan
        var ns = [UInt64](repeating: 0, count: plan.graph.ops.count)
        try input.withUnsafeBufferPointer { buf in
            for _ in 0..<runs { try session.runProfiled(buf, nanoseconds: &ns) }
        }
        let entries = plan.graph.ops.indices.map { i in
            Entry(layer: i < plan.sourceMap.count && !plan.sourceMap[i].isEmpty ? plan.sourceMap[i] : "op \(i)",
                  kind: plan.graph.ops[i].kind.name, ms: Double(ns[i]) / 1e6 / Double(runs))
        }
        return OpProfile(runs: runs, perOp: entries, totalMs: entries.reduce(0) { $0 + $1.ms })
    }

    /// (kind, ms, ops) by total time, largest first.
    var byKind: [(kind: String, ms: Double, count: Int)] {
        var sums: [String: (Double, Int)] = [:]
        for e in perOp where e.ms > 0 { sums[e.kind, default: (0, 0)].0 += e.ms; sums[e.kind, default: (0, 0)].1 += 1 }
        return sums.map { ($0.key, $0.value.0, $0.value.1) }.sorted { $0.ms > $1.ms }
    }

    var top: [Entry] { Array(perOp.filter { $0.ms > 0 }.sorted { $0.ms > $1.ms }.prefix(15)) }

    private func share(_ ms: Double) -> String { String(format1: 100 * ms / max(totalMs, 1e-9)) + " %" }

    var text: String {
        var lines = ["profile (\(runs) runs, \(String(format2: totalMs)) ms per run in ops):", "  by op kind:"]
        for k in byKind { lines.append("    \(k.kind) ×\(k.count): \(String(format2: k.ms)) ms, \(share(k.ms))") }
        lines.append("  slowest layers:")
        for e in top { lines.append("    \(e.layer) (\(e.kind)): \(String(format2: e.ms)) ms, \(share(e.ms))") }
        return lines.joined(separator: "\n")
    }

    var json: JSON {
        .object([
            ("runs", .int(runs)), ("total_ms", .double(totalMs)),
            ("by_kind", .array(byKind.map { .object([("kind", .string($0.kind)), ("ops", .int($0.count)), ("ms", .double($0.ms))]) })),
            ("ops", .array(perOp.map { .object([("layer", .string($0.layer)), ("kind", .string($0.kind)), ("ms", .double($0.ms))]) })),
        ])
    }
}
