#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on stderr, only when stderr is a terminal and not --quiet,
/// with the remaining time estimated from the rate so far.
struct ProgressBar {
    let label: String
    let enabled: Bool
    private let start = ContinuousClock.now

    init(_ label: String, quiet: Bool) {
        self.label = label
        enabled = !quiet && isatty(2) != 0
    }

    func update(_ done: Int, _ total: Int, detail: String = "") {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * min(done, total) / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        var line = "\r\(label) [\(bar)] \(done)/\(total)"
        if done > 0 && done < total {
            let elapsed = BenchCommand.ms(ContinuousClock.now - start) / 1000
            let eta = Int((elapsed / Double(done) * Double(total - done)).rounded())
            line += " ETA \(eta / 60):\(eta % 60 < 10 ? "0" : "")\(eta % 60)"
        }
        if !detail.isEmpty { line += " " + detail }
        line += "\u{1B}[K"
        _ = line.withCString { write(2, $0, strlen($0)) }
        if done == total { _ = "\r\u{1B}[K".withCString { write(2, $0, strlen($0)) } }
    }
}
