#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on stderr, only when stderr is a terminal and not --quiet.
struct ProgressBar {
    let label: String
    let enabled: Bool

    init(_ label: String, quiet: Bool) {
        self.label = label
        enabled = !quiet && isatty(2) != 0
    }

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = "\r\(label) [\(bar)] \(done)/\(total)"
        _ = line.withCString { write(2, $0, strlen($0)) }
        if done == total { _ = "\r\u{1B}[K".withCString { write(2, $0, strlen($0)) } }
    }
}
