import SegcCompiler
import SegcEval

/// The report page of one `segc eval` run: the same page `reproduce` writes, with one
/// table row, the score's curves and the worst and best frames.
enum EvalReport {
    static func page(plan: String, datasetPath: String, result: EvaluationResult, scoreLabel: String, curve: ScoreCurve?,
                     gallery: FrameGallery?, threads: Int, command: String) -> ReportPage {
        let name = Compiler.baseName(datasetPath.hasSuffix("/") ? String(datasetPath.dropLast()) : datasetPath)
        let label = "\(Compiler.baseName(plan)) \(scoreLabel)"
        let table: ReportTable
        if let miou = result.miou {
            table = ReportTable(title: "Evaluation", groups: [(name, 1)], columns: ["mIoU"],
                                rows: [(Compiler.baseName(plan), [formatFixed(miou * 100, decimals: 2)])],
                                notes: ["Percent, two decimals; \(result.framesUsed) frames."])
        } else {
            table = ReportTable(title: "Evaluation", groups: [(name, 2)], columns: ["AuPRC", "FPR95"],
                                rows: [(label, [result.auprc.map { formatFixed($0 * 100, decimals: 2) } ?? "—",
                                                result.fpr95.map { formatFixed($0 * 100, decimals: 2) } ?? "—"])],
                                notes: ["Percent, two decimals; \(result.framesUsed) of \(result.frames) frames used, \(result.framesSkipped) without an anomaly pixel skipped; \(result.anomalyPixels) anomaly, \(result.inlierPixels) inlier, \(result.ignoredPixels) ignored pixels."])
        }
        var datasets: [ReportDataset] = []
        if curve != nil || gallery?.worst != nil {
            datasets.append(ReportDataset(name: name, curves: curve.map { [(label, $0)] } ?? [], galleryLabel: label,
                                          worst: gallery?.worst, best: gallery?.best))
        }
        return ReportPage(title: "segc eval: \(Compiler.baseName(plan)) on \(name)",
                          facts: MachineFacts.reportFacts(threads: threads) + [("command", command)],
                          tables: [table], datasets: datasets)
    }
}
