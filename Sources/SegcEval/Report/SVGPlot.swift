/// Inline SVG line plots for the report: no script, no font file (the page's system
/// sans-serif), so the HTML stays one self-contained file.
public enum SVGPlot {
    /// One polyline: label and (x, y) points in [0, 1]².
    public struct Line: Sendable {
        public var label: String
        public var points: [(Double, Double)]
        /// Optional marked point (e.g. the FPR95 operating point) and its caption.
        public var marker: (x: Double, y: Double, caption: String)?
        public init(label: String, points: [(Double, Double)], marker: (x: Double, y: Double, caption: String)? = nil) {
            self.label = label; self.points = points; self.marker = marker
        }
    }

    /// Colour-blind-safe palette (Okabe–Ito), cycled over lines.
    public static let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    /// A square plot with axes 0–1, grid, axis titles, a legend under the plot, and
    /// optional dashed guide lines (`guides`: (x1, y1, x2, y2) in data units).
    public static func plot(title: String, xLabel: String, yLabel: String, lines: [Line],
                            guides: [(Double, Double, Double, Double)] = [], size: Int = 360) -> String {
        let left = 48.0, top = 28.0, plotSize = Double(size) - 64
        // Under the plot: tick labels, the axis title, then one legend row per line.
        let legendTop = top + plotSize + 52
        let height = legendTop + Double(lines.count) * 16 + 4
        func px(_ x: Double) -> String { fmt(left + max(0, min(1, x)) * plotSize) }
        func py(_ y: Double) -> String { fmt(top + (1 - max(0, min(1, y))) * plotSize) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(size)\" height=\"\(Int(height))\" viewBox=\"0 0 \(size) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<text x=\"\(fmt(left + plotSize / 2))\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>"
        s += "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(plotSize))\" height=\"\(fmt(plotSize))\" fill=\"#fff\" stroke=\"#444\"/>"
        for i in 1..<5 {
            let v = Double(i) / 5
            s += "<line x1=\"\(px(v))\" y1=\"\(py(0))\" x2=\"\(px(v))\" y2=\"\(py(1))\" stroke=\"#ddd\"/>"
            s += "<line x1=\"\(px(0))\" y1=\"\(py(v))\" x2=\"\(px(1))\" y2=\"\(py(v))\" stroke=\"#ddd\"/>"
        }
        for i in 0...5 {
            let v = Double(i) / 5
            s += "<text x=\"\(px(v))\" y=\"\(fmt(top + plotSize + 14))\" text-anchor=\"middle\" font-size=\"10\">\(fmt(v))</text>"
            s += "<text x=\"\(fmt(left - 4))\" y=\"\(fmt(Double(py(v))! + 3))\" text-anchor=\"end\" font-size=\"10\">\(fmt(v))</text>"
        }
        s += "<text x=\"\(fmt(left + plotSize / 2))\" y=\"\(fmt(top + plotSize + 32))\" text-anchor=\"middle\" font-size=\"11\">\(escape(xLabel))</text>"
        s += "<text transform=\"translate(12 \(fmt(top + plotSize / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">\(escape(yLabel))</text>"
        for g in guides {
            s += "<line x1=\"\(px(g.0))\" y1=\"\(py(g.1))\" x2=\"\(px(g.2))\" y2=\"\(py(g.3))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
        }
        for (i, line) in lines.enumerated() {
            let color = colors[i % colors.count]
            let pts = line.points.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"\(pts)\"><title>\(escape(line.label))</title></polyline>"
            if let m = line.marker {
                s += "<circle cx=\"\(px(m.x))\" cy=\"\(py(m.y))\" r=\"4\" fill=\"\(color)\" stroke=\"#000\"><title>\(escape(line.label)): \(escape(m.caption))</title></circle>"
            }
            let ly = legendTop + Double(i) * 16
            s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(ly - 4))\" x2=\"\(fmt(left + 18))\" y2=\"\(fmt(ly - 4))\" stroke=\"\(color)\" stroke-width=\"3\"/>"
            var text = line.label
            if let m = line.marker { text += " — " + m.caption }
            s += "<text x=\"\(fmt(left + 24))\" y=\"\(fmt(ly))\" font-size=\"11\">\(escape(text))</text>"
        }
        s += "</svg>"
        return s
    }

    /// Coordinates with at most two decimals: enough for a plot, small in the file.
    static func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        if r == r.rounded() { return String(Int(r)) }
        return String(r)
    }

    /// Escapes text for HTML/SVG content and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
