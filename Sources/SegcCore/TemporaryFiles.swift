#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Temporary output files in flight, removed by the CLI's SIGINT/SIGTERM handler
/// (product.md §4.6: interrupted commands leave no partial output).
public enum TemporaryFiles {
    private static let paths = Mutex<[String]>([])

    public static func register(_ path: String) { paths.withLock { $0.append(path) } }
    public static func unregister(_ path: String) { paths.withLock { $0.removeAll { $0 == path } } }

    /// Removes every registered file. Called from the signal handler thread (a
    /// dispatch source, not an async-signal context), so locking is fine.
    public static func removeAll() {
        let all = paths.withLock { p -> [String] in let c = p; p.removeAll(); return c }
        for p in all { unlink(p) }
    }
}
