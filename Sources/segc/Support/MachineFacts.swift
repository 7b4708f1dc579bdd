#if canImport(Glibc)
import Glibc
#endif
import SegcCore
import SegcRuntime

/// What a report says about where it was measured: figures of speed (and the split of
/// wall time) only mean something next to the CPU, core count and date.
enum MachineFacts {
    /// CPU model name from /proc/cpuinfo ("unknown CPU" elsewhere).
    static var cpuModel: String {
        // /proc files report size 0, so read them as a stream rather than mapping them.
        guard let f = fopen("/proc/cpuinfo", "r") else { return "unknown CPU" }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 1024)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            guard text.hasPrefix("model name"), let colon = text.firstIndex(of: ":") else { continue }
            return text[text.index(after: colon)...].trimmingCharacters(in: " \t\n")
        }
        return "unknown CPU"
    }

    /// Online CPUs (sysconf); on a shared machine other processes may use some of them.
    static var cpus: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Host name (uname).
    static var host: String {
        var u = utsname()
        uname(&u)
        return withUnsafePointer(to: &u.nodename) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
    }

    /// UTC date and time, ISO 8601 to the second.
    static var utcNow: String {
        var t = time(nil)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tmv.tm_year + 1900)-\(two(tmv.tm_mon + 1))-\(two(tmv.tm_mday))T\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec))Z"
    }

    /// The header lines of a report.
    static func reportFacts(threads: Int) -> [(String, String)] {
        [("machine", "\(cpuModel), \(cpus) CPUs online, host \(host)"),
         ("segc", "segc \(Segc.version) (plan format 1.0; kernels: \(KernelLevel.current.description)), \(threads) threads"),
         ("date", utcNow)]
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
