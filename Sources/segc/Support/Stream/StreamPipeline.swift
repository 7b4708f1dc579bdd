import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SegcCore
import SegcEval
import SegcPlan
import SegcRuntime

/// decode → network → score/write, each stage on its own thread, bounded queues between
/// them (the network runs on the calling thread with the session's kernel threads).
/// Latencies per frame: decode (bytes → preprocessed tensor), queue wait, network,
/// write, and end to end (frame read → outputs written).
struct StreamPipeline {
    /// The plan's session, with the range guard and fallback when asked (`--guard`).
    let network: GuardedNetwork
    let meta: PlanMetadata
    let frames: FrameSource
    let sink: FrameSink
    let dropLate: Bool
    let live: Bool

    struct Decoded { var index: Int; var name: String; var input: [Float]; var read: UInt64; var decodeMs: Double }
    struct Inferred { var frame: Decoded; var logits: [Float]; var networkMs: Double; var waitMs: Double }

    struct Report {
        var frames = 0, dropped = 0
        /// With `--guard`: frames out of the calibrated range (answered by the fallback if any).
        var outOfRange: Int?
        var seconds = 0.0
        var decode: [Double] = [], wait: [Double] = [], network: [Double] = [], write: [Double] = [], total: [Double] = []

        var fps: Double { seconds > 0 ? Double(frames) / seconds : 0 }

        static func percentiles(_ v: [Double]) -> (Double, Double, Double) {
            guard !v.isEmpty else { return (0, 0, 0) }
            let s = v.sorted()
            func p(_ q: Double) -> Double { s[min(s.count - 1, Int((q * Double(s.count - 1)).rounded()))] }
            return (p(0.5), p(0.95), p(0.99))
        }

        var json: [(String, JSON)] {
            func stage(_ v: [Double]) -> JSON {
                let (a, b, c) = Self.percentiles(v)
                return .object([("p50_ms", .double(a)), ("p95_ms", .double(b)), ("p99_ms", .double(c))])
            }
            return [("frames", .int(frames)), ("dropped", .int(dropped)), ("seconds", .double(seconds)), ("fps", .double(fps)),
                    ("out_of_range", outOfRange.map { .int($0) } ?? .null),
                    ("latency", .object([("decode", stage(decode)), ("queue_wait", stage(wait)), ("network", stage(network)),
                                         ("write", stage(write)), ("end_to_end", stage(total))]))]
        }

        var summary: String {
            func row(_ n: String, _ v: [Double]) -> String {
                let (a, b, c) = Self.percentiles(v)
                return "  \(n): p50 \(String(format2: a)) ms, p95 \(String(format2: b)) ms, p99 \(String(format2: c)) ms"
            }
            let guarded = outOfRange.map { ", \($0) out of the calibrated range" } ?? ""
            return (["\(frames) frames in \(String(format2: seconds)) s: \(String(format2: fps)) fps, \(dropped) dropped\(guarded)"]
                    + [row("decode", decode), row("network", network), row("write", write), row("end to end", total)])
                .joined(separator: "\n")
        }
    }

    static func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Gives the calling thread the lowest CPU priority (nice 19; on Linux `setpriority` with
    /// who = 0 applies to the calling thread only). The decoder and the writer need a few
    /// percent of a core per frame; at the network's priority they preempted one of its two
    /// threads mid-task, and the other thread then waited at the end of that op for the task
    /// to resume — the whole network stalled for every slice the decoder ran. At nice 19 they
    /// run when a network thread is idle (between ops, waiting for the next frame).
    static func yieldToNetwork() {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
    }

    static func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b &- a) / 1e6 }

    func run() throws -> Report {
        let (h, w) = (network.session.model.inputShape[2], network.session.model.inputShape[3])
        let decoded = BoundedQueue<Decoded>(capacity: 1)   // one frame ready: low latency, decode still overlaps
        let inferred = BoundedQueue<Inferred>(capacity: 2)
        let failure = FailureBox()
        let sink = self.sink, frames = self.frames, meta = self.meta
        let reportBox = ReportBox()

        let decoder = Thread {
            Self.yieldToNetwork()
            var index = 0
            do {
                while decoded.waitForRoom(), let (name, bytes) = try frames.next() {
                    let t0 = Self.nowNs()
                    var input = try bytes.withUnsafeBytes { raw throws(SegcError) in
                        try Image.decode(bytes: raw, name: name).convertedToRGB()
                            .resized(width: w, height: h, filter: .bilinear).chwFloats()
                    }
                    meta.normalise(&input)
                    if !decoded.push(Decoded(index: index, name: name, input: input, read: t0, decodeMs: Self.ms(t0, Self.nowNs()))) { break }
                    index += 1
                }
            } catch { failure.set(error) }
            decoded.close()
        }
        let writer = Thread {
            Self.yieldToNetwork()
            while let item = inferred.pop() {
                let t0 = Self.nowNs()
                do { try sink.write(name: item.frame.name, logits: item.logits) } catch {
                    failure.set(error); inferred.close(); decoded.close(); break
                }
                let t1 = Self.nowNs()
                reportBox.add(item, writeMs: Self.ms(t0, t1), totalMs: Self.ms(item.frame.read, t1))
            }
            reportBox.finish()
        }
        decoder.stackSize = 8 << 20
        writer.stackSize = 8 << 20
        let start = Self.nowNs()
        decoder.start()
        writer.start()
        var dropped = 0
        var lastLive = start
        var done = 0
        while true {
            if dropLate { dropped += decoded.dropAllButNewest() }
            let w0 = Self.nowNs()
            guard let frame = decoded.pop() else { break }
            let t0 = Self.nowNs()
            let logits = try frame.input.withUnsafeBufferPointer { x in
                let out = try network.run(x)
                return sink.readsLogits ? Array(out) : []
            }
            let t1 = Self.nowNs()
            if !inferred.push(Inferred(frame: frame, logits: logits, networkMs: Self.ms(t0, t1), waitMs: Self.ms(w0, t0))) { break }
            done += 1
            if live && t1 - lastLive > 500_000_000 {
                lastLive = t1
                let fps = Double(done) / (Double(t1 - start) / 1e9)
                let line = "\rstream: \(done) frames, \(String(format2: fps)) fps, \(dropped) dropped"
                _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
            }
        }
        inferred.close()
        var report = reportBox.wait()
        report.seconds = Double(Self.nowNs() - start) / 1e9
        report.dropped = dropped
        if network.session.checksRange { report.outOfRange = network.flagged }
        if live { _ = "\r\u{1B}[K".withCString { Glibc.write(2, $0, strlen($0)) } }
        if let e = failure.error { throw e }
        return report
    }
}

/// The first error of any stage.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: Error?
    func set(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
}

/// Latencies collected by the writer stage; `wait()` returns once it has finished.
final class ReportBox: @unchecked Sendable {
    private let done = NSCondition()
    private var finished = false
    private var report = StreamPipeline.Report()

    func add(_ item: StreamPipeline.Inferred, writeMs: Double, totalMs: Double) {
        done.lock()
        report.frames += 1
        report.decode.append(item.frame.decodeMs)
        report.wait.append(item.waitMs)
        report.network.append(item.networkMs)
        report.write.append(writeMs)
        report.total.append(totalMs)
        done.unlock()
    }

    func finish() { done.lock(); finished = true; done.broadcast(); done.unlock() }

    func wait() -> StreamPipeline.Report {
        done.lock(); defer { done.unlock() }
        while !finished { done.wait() }
        return report
    }
}
