import SegcEval

/// Turns `ReproduceResults` into the three outputs: `tables.md` (percent, two decimals,
/// the paper's layout), `tables.json` (full precision, each figure with its command) and
/// the report page. All three read the same cells, so they cannot disagree.
struct TablesOutput {
    let tables: [TableSpec]
    let results: ReproduceResults
    let facts: [(String, String)]

    static let missing = "—"

    private func pct(_ v: Double) -> String { formatFixed(v * 100, decimals: 2) }

    /// Report tables (also the source of the markdown).
    func reportTables() -> [ReportTable] {
        tables.map { $0.isSpeed ? speedTable($0) : accuracyTable($0) }
    }

    private func accuracyTable(_ t: TableSpec) -> ReportTable {
        var groups: [(name: String, span: Int)] = [(PaperLayout.cityscapes.title, 1)]
        var columns = ["mIoU"]
        for d in PaperLayout.anomalySets { groups.append((d.title, 2)); columns += ["AuPRC", "FPR95"] }
        var rows: [(label: String, cells: [String])] = []
        var notes: [String] = ["Percent, two decimals. AuPRC higher is better, FPR95 lower is better; mIoU over 19 Cityscapes classes (iouEval, ignore index 19)."]
        for r in t.rows {
            switch r.source {
            case .missing(let why):
                rows.append((r.label, Array(repeating: Self.missing, count: columns.count)))
                notes.append("\(r.label): missing — \(why).")
            case .measured(let ref, let spec):
                var cells = [results.miou[ref.key].map { pct($0.value) } ?? Self.missing]
                let byDataset = results.anomaly[ref.key]?[spec] ?? [:]
                for d in PaperLayout.anomalySets {
                    if let f = byDataset[d.title] { cells += [pct(f.auprc.value), pct(f.fpr95.value)] } else { cells += [Self.missing, Self.missing] }
                }
                var label = r.label
                if spec == .calibratedMSP, let c = results.calibrated[ref.key] { label += " (T = \(formatFixed(c.t, decimals: 4)))" }
                rows.append((label, cells))
                if cells.allSatisfy({ $0 == Self.missing }) { notes.append("\(r.label): missing — model or datasets not found.") }
            }
        }
        return ReportTable(title: t.title, groups: groups, columns: columns, rows: rows, notes: notes)
    }

    private func speedTable(_ t: TableSpec) -> ReportTable {
        let columns = ["fps", "median ms", "threads", "kernels", "GMACs", "parameters", "plan MB"]
        var rows: [(label: String, cells: [String])] = []
        var notes = ["Measured with segc bench's loop on this machine at 512x1024 (fixed pseudo-random input); fps = 1000 / median ms."]
        for r in t.rows {
            switch r.source {
            case .missing(let why):
                rows.append((r.label, Array(repeating: Self.missing, count: columns.count)))
                notes.append("\(r.label): missing — \(why).")
            case .measured(let ref, _):
                guard let s = results.speed[ref.key] else {
                    rows.append((r.label, Array(repeating: Self.missing, count: columns.count)))
                    notes.append("\(r.label): missing — model not found.")
                    continue
                }
                rows.append((r.label, [formatFixed(1000 / s.medianMs, decimals: 2), formatFixed(s.medianMs, decimals: 1), String(s.threads),
                                       s.kernels, formatFixed(Double(s.macs) / 1e9, decimals: 2), String(s.parameters),
                                       formatFixed(Double(s.planBytes) / 1e6, decimals: 2)]))
            }
        }
        return ReportTable(title: t.title, groups: [], columns: columns, rows: rows, notes: notes)
    }

    /// `tables.md`.
    func markdown() -> String {
        var s = "# Reproduced tables\n\n"
        for (k, v) in facts { s += "- \(k): \(v)\n" }
        s += "\n"
        for t in reportTables() {
            s += "## \(t.title)\n\n"
            var header = "| Method |", rule = "|---|"
            if t.groups.isEmpty {
                for c in t.columns { header += " \(c) |"; rule += "---:|" }
            } else {
                var i = 0
                for g in t.groups {
                    for _ in 0..<g.span { header += " \(g.name) \(t.columns[i]) |"; rule += "---:|"; i += 1 }
                }
            }
            s += header + "\n" + rule + "\n"
            for r in t.rows { s += "| \(r.label) | " + r.cells.joined(separator: " | ") + " |\n" }
            s += "\n"
            for n in t.notes { s += "\(n)  \n" }
            s += "\n"
        }
        if !results.warnings.isEmpty {
            s += "## Warnings\n\n" + results.warnings.map { "- \($0)\n" }.joined() + "\n"
        }
        return s
    }

    /// `tables.json`.
    func json(timing: JSON) -> JSON {
        var tablesJSON: [JSON] = []
        for t in tables {
            var rows: [JSON] = []
            for r in t.rows {
                switch r.source {
                case .missing(let why):
                    rows.append(.object([("label", .string(r.label)), ("status", .string("missing")), ("reason", .string(why))]))
                case .measured(let ref, let spec):
                    var fields: [(String, JSON)] = [("label", .string(r.label)), ("model", .string(ref.key))]
                    if t.isSpeed {
                        guard let s = results.speed[ref.key] else {
                            rows.append(.object(fields + [("status", .string("missing")), ("reason", .string("model not found"))])); continue
                        }
                        fields += [("status", .string("measured")), ("fps", .double(1000 / s.medianMs)), ("median_ms", .double(s.medianMs)),
                                   ("min_ms", .double(s.minMs)), ("runs", .int(s.runs)), ("threads", .int(s.threads)),
                                   ("kernels", .string(s.kernels)), ("macs", .int(s.macs)), ("parameters", .int(s.parameters)),
                                   ("plan_bytes", .int(s.planBytes)), ("command", .string(s.command))]
                        rows.append(.object(fields)); continue
                    }
                    fields.append(("score", .string(ReproduceRun.anomalyScore(spec, calibrated: 1)?.name ?? "")))
                    switch spec {
                    case .msp(let t): fields.append(("temperature", .double(t)))
                    case .calibratedMSP:
                        if let c = results.calibrated[ref.key] {
                            fields += [("temperature", .double(c.t)), ("temperature_command", .string(c.command))]
                        }
                    default: break
                    }
                    var figures: [JSON] = []
                    if let m = results.miou[ref.key] {
                        figures.append(.object([("dataset", .string(PaperLayout.cityscapes.title)), ("metric", .string("miou")),
                                                ("value", .double(m.value)), ("command", .string(m.command))]))
                    }
                    for d in PaperLayout.anomalySets {
                        guard let f = results.anomaly[ref.key]?[spec]?[d.title] else { continue }
                        figures.append(.object([("dataset", .string(d.title)), ("metric", .string("auprc")), ("value", .double(f.auprc.value)), ("command", .string(f.auprc.command))]))
                        figures.append(.object([("dataset", .string(d.title)), ("metric", .string("fpr95")), ("value", .double(f.fpr95.value)), ("command", .string(f.fpr95.command))]))
                    }
                    fields += [("status", .string(figures.isEmpty ? "missing" : "measured")), ("figures", .array(figures))]
                    rows.append(.object(fields))
                }
            }
            tablesJSON.append(.object([("id", .int(t.id)), ("title", .string(t.title)), ("rows", .array(rows))]))
        }
        let datasets: [(String, JSON)] = ([PaperLayout.cityscapes] + PaperLayout.anomalySets).compactMap { c in
            results.datasetsFound[c.title].map { (c.title, .string($0)) }
        }
        return .object(facts.map { ($0.0, JSON.string($0.1)) } + [
            ("datasets", .object(datasets)), ("tables", .array(tablesJSON)), ("timing_ms", timing),
            ("warnings", .strings(results.warnings)),
        ])
    }

    /// The report page's per-dataset sections (curves and frames).
    func reportDatasets() -> [ReportDataset] {
        PaperLayout.anomalySets.compactMap { d in
            let curves = results.curves[d.title] ?? []
            let g = results.galleries[d.title]
            if curves.isEmpty && g == nil { return nil }
            return ReportDataset(name: d.title, curves: curves, galleryLabel: g?.label ?? "", worst: g?.worst, best: g?.best)
        }
    }
}
