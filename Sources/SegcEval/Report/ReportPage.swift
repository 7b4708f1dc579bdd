/// A table of the report (and of `tables.md`): grouped header (e.g. one group per
/// dataset over its AuPRC and FPR95 columns), then rows of preformatted cells.
public struct ReportTable: Sendable {
    public var title: String
    /// Header groups over the columns after the row label: (name, columns spanned).
    public var groups: [(name: String, span: Int)]
    /// Column names after the row label.
    public var columns: [String]
    /// (row label, cells) — cells already formatted ("—" for a missing figure).
    public var rows: [(label: String, cells: [String])]
    /// Text under the table (what is missing and why, units).
    public var notes: [String]

    public init(title: String, groups: [(name: String, span: Int)], columns: [String],
                rows: [(label: String, cells: [String])], notes: [String] = []) {
        self.title = title; self.groups = groups; self.columns = columns; self.rows = rows; self.notes = notes
    }
}

/// Curves and example frames of one dataset.
public struct ReportDataset: Sendable {
    public var name: String
    /// (method label, curve), one line per method in both plots.
    public var curves: [(label: String, curve: ScoreCurve)]
    /// Which network the frames come from, and its worst / best frame.
    public var galleryLabel: String
    public var worst: GalleryFrame?
    public var best: GalleryFrame?

    public init(name: String, curves: [(label: String, curve: ScoreCurve)], galleryLabel: String,
                worst: GalleryFrame?, best: GalleryFrame?) {
        self.name = name; self.curves = curves; self.galleryLabel = galleryLabel; self.worst = worst; self.best = best
    }
}

/// The self-contained HTML report of `segc reproduce` and `segc eval --report`: inline
/// CSS and SVG, images as `data:image/png;base64` URIs, no script, no external resource;
/// written as well-formed XML (XHTML syntax) so a test can parse it with any XML parser.
public struct ReportPage: Sendable {
    public var title: String
    /// (key, value) lines of the header: machine, segc version, date, timing.
    public var facts: [(String, String)]
    public var tables: [ReportTable]
    public var datasets: [ReportDataset]
    public var notes: [String]

    public init(title: String, facts: [(String, String)], tables: [ReportTable], datasets: [ReportDataset], notes: [String] = []) {
        self.title = title; self.facts = facts; self.tables = tables; self.datasets = datasets; self.notes = notes
    }

    private static let css = """
    body{font-family:sans-serif;margin:24px;color:#111;max-width:1400px}
    h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}h3{font-size:15px}
    table{border-collapse:collapse;margin:8px 0;font-size:13px}
    th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}th{background:#eee}
    td.l,th.l{text-align:left}td.missing{color:#999}
    dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}dt{font-weight:bold}dd{margin:0}
    .plots{display:flex;flex-wrap:wrap;gap:16px}.frames{display:flex;flex-wrap:wrap;gap:8px}
    figure{margin:0}figcaption{font-size:12px;text-align:center}img{display:block;border:1px solid #999}
    p.note{font-size:12px;color:#444;margin:2px 0}
    """

    /// The page as UTF-8 HTML.
    public func html() -> String {
        let e = SVGPlot.escape
        var h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>\(e(title))</title><style>\(ReportPage.css)</style></head><body>\n"
        h += "<h1>\(e(title))</h1>\n<dl>"
        for (k, v) in facts { h += "<dt>\(e(k))</dt><dd>\(e(v))</dd>" }
        h += "</dl>\n"
        for n in notes { h += "<p class=\"note\">\(e(n))</p>\n" }
        for t in tables { h += table(t) }
        for d in datasets { h += dataset(d) }
        h += "</body></html>\n"
        return h
    }

    private func table(_ t: ReportTable) -> String {
        let e = SVGPlot.escape
        var h = "<h2>\(e(t.title))</h2>\n<table><thead>"
        if !t.groups.isEmpty {
            h += "<tr><th class=\"l\" rowspan=\"2\">Method</th>"
            for g in t.groups { h += "<th colspan=\"\(g.span)\">\(e(g.name))</th>" }
            h += "</tr><tr>"
        } else {
            h += "<tr><th class=\"l\">Method</th>"
        }
        for c in t.columns { h += "<th>\(e(c))</th>" }
        h += "</tr></thead><tbody>"
        for r in t.rows {
            h += "<tr><td class=\"l\">\(e(r.label))</td>"
            for c in r.cells { h += c == "—" ? "<td class=\"missing\">—</td>" : "<td>\(e(c))</td>" }
            h += "</tr>"
        }
        h += "</tbody></table>\n"
        for n in t.notes { h += "<p class=\"note\">\(e(n))</p>\n" }
        return h
    }

    private func dataset(_ d: ReportDataset) -> String {
        let e = SVGPlot.escape
        var h = "<h2>\(e(d.name))</h2>\n"
        if !d.curves.isEmpty {
            let pr = d.curves.map { c in
                SVGPlot.Line(label: "\(c.label) (AuPRC \(pct(c.curve.auprc)))", points: c.curve.pr.map { ($0.recall, $0.precision) })
            }
            let roc = d.curves.map { c in
                SVGPlot.Line(label: c.label, points: c.curve.roc.map { ($0.fpr, $0.tpr) },
                             marker: (c.curve.fpr95, 0.95, "FPR95 \(pct(c.curve.fpr95))"))
            }
            h += "<div class=\"plots\">"
            h += SVGPlot.plot(title: "\(d.name): precision–recall", xLabel: "recall", yLabel: "precision", lines: pr)
            h += SVGPlot.plot(title: "\(d.name): ROC", xLabel: "false-positive rate", yLabel: "true-positive rate", lines: roc,
                              guides: [(0, 0.95, 1, 0.95)])
            h += "</div>\n"
        }
        for (which, frame) in [("Worst", d.worst), ("Best", d.best)] {
            guard let f = frame else { continue }
            h += "<h3>\(which) frame: \(e(f.stem)) — \(e(d.galleryLabel)), per-frame AuPRC \(pct(f.auprc))</h3>\n<div class=\"frames\">"
            h += figure(f.groundTruthPNG, "frame, anomaly outlined (cyan), void darkened")
            for o in f.overlays { h += figure(o.png, o.score) }
            h += "</div>\n"
        }
        return h
    }

    private func figure(_ png: [UInt8], _ caption: String) -> String {
        "<figure><img alt=\"\(SVGPlot.escape(caption))\" src=\"data:image/png;base64,\(Base64.encode(png))\"/><figcaption>\(SVGPlot.escape(caption))</figcaption></figure>"
    }

    /// Percent with two decimals, as the paper prints.
    public static func percent(_ v: Double) -> String { formatFixed(v * 100, decimals: 2) + " %" }

    private func pct(_ v: Double) -> String { ReportPage.percent(v) }
}

/// `v` with exactly `decimals` decimals, rounded half away from zero on the decimal
/// value (the `%.2f` reading of a figure); no Foundation.
public func formatFixed(_ v: Double, decimals: Int) -> String {
    guard v.isFinite else { return "nan" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let neg = v < 0
    let r = (abs(v) * scale).rounded(.toNearestOrAwayFromZero)
    let whole = Int(r / scale)
    let frac = Int(r - Double(whole) * scale)
    var f = String(frac)
    while f.count < decimals { f = "0" + f }
    return (neg && r != 0 ? "-" : "") + String(whole) + (decimals > 0 ? "." + f : "")
}
