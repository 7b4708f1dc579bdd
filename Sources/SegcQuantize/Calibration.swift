import Dispatch
import CSegcKernels
import Foundation
import SegcCore
import SegcPlan
import SegcRuntime

/// Runs an fp32 plan on calibration inputs and keeps, for every float32 activation
/// (the graph input and each op's first output), a `Histogram` — bounded memory, no
/// activation is stored. Ranges come from the first images (a minmax pass), widened
/// by `margin`; values beyond land in the edge bins while `min`/`max` stay exact.
package struct Calibration: Sendable {
    /// Plan value index → its histogram.
    package var histograms: [Int: Histogram]
    /// Number of images seen.
    package var images: Int
    /// Argmax of the fp32 logits of each image (for the agreement of the int8 plan).
    package var argmax: [[UInt8]]
    /// Per-channel means of every convolution's input (value index → C means), for
    /// bias correction.
    package var channelMeans: [Int: [Double]] = [:]

    package init(histograms: [Int: Histogram], images: Int, argmax: [[UInt8]]) {
        self.histograms = histograms; self.images = images; self.argmax = argmax
    }

    package static let rangeImages = 4
    package static let margin: Float = 2

    /// - Parameters:
    ///   - count: number of inputs; `input(i)` returns the preprocessed tensor of image `i`.
    ///   - progress: called with (done, total) after each image of the histogram pass.
    package static func run(plan: PlanFile, count: Int, threads: Int = 0,
                            input: @escaping (Int) throws -> [Float],
                            progress: (Int, Int) -> Void = { _, _ in }) throws -> Calibration {
        let model = try SegcModel(plan: plan)
        let session = try SegcSession(model: model, threads: threads)
        let g = plan.graph
        let observed = g.ops.indices.filter { g.values[g.ops[$0].outputs[0]].dtype == .f32 }
        let valueOfOp = Dictionary(uniqueKeysWithValues: observed.map { ($0, g.ops[$0].outputs[0]) })

        // Pass 1: ranges from the first images (and their inputs are kept for pass 2).
        var lo = [Int: Float](), hi = [Int: Float]()
        func note(_ v: Int, _ b: UnsafeBufferPointer<Float>) {
            var mn = lo[v] ?? .infinity, mx = hi[v] ?? -.infinity
            for x in b { if x < mn { mn = x }; if x > mx { mx = x } }
            lo[v] = mn; hi[v] = mx
        }
        let first = min(count, rangeImages)
        var firstInputs: [[Float]] = []
        session.observer = { i, b in if let v = valueOfOp[i] { note(v, b) } }
        for k in 0..<first {
            let x = try input(k)
            x.withUnsafeBufferPointer { note(g.input, $0) }
            _ = try session.run(x)
            firstInputs.append(x)
        }
        var hist = [Int: Histogram]()
        for v in [g.input] + observed.map({ valueOfOp[$0]! }) {
            let a = lo[v] ?? 0, b = hi[v] ?? 0
            // Widen around zero so later images fit: [min(a,0)·m, max(b,0)·m].
            hist[v] = Histogram(lo: Swift.min(a, 0) * margin, hi: Swift.max(Swift.max(b, 0) * margin, Swift.min(a, 0) * margin + 1e-6))
        }

        // Pass 2: histograms, conv-input channel sums and fp32 argmax of every image.
        var maps: [[UInt8]] = []
        var convInputs = Set<Int>()
        for op in g.ops where [.conv2d, .convTranspose2d].contains(op.kind) { convInputs.insert(op.inputs[0]) }
        var sums = [Int: [Double]]()
        func accumulate(_ v: Int, _ b: UnsafeBufferPointer<Float>) {
            let shape = g.values[v].shape
            guard convInputs.contains(v), shape.count == 4, shape[0] == 1 else { return }
            let c = shape[1], hw = shape[2] * shape[3]
            var s = sums[v] ?? [Double](repeating: 0, count: c)
            for k in 0..<c {
                var acc: Float = 0, total = 0.0
                // Float partial sums of 4096, added in double: fast and accurate enough for a mean.
                for (j, x) in b[(k * hw)..<((k + 1) * hw)].enumerated() {
                    acc += x
                    if j & 4095 == 4095 { total += Double(acc); acc = 0 }
                }
                s[k] += total + Double(acc)
            }
            sums[v] = s
        }
        let parts = Swift.max(1, session.threads)
        session.observer = { i, b in if let v = valueOfOp[i] { hist[v]!.addConcurrently(b, parts: parts); accumulate(v, b) } }
        // The next image is decoded on another thread while this one runs.
        let ahead = Prefetcher(input)
        if first < count { ahead.start(first) }
        for k in 0..<count {
            let x: [Float]
            if k < first { x = firstInputs[k] } else {
                x = try ahead.take()
                if k + 1 < count { ahead.start(k + 1) }
            }
            x.withUnsafeBufferPointer { hist[g.input]!.addConcurrently($0, parts: parts); accumulate(g.input, $0) }
            let map = try x.withUnsafeBufferPointer { buf in Agreement.argmax(try session.run(buf), shape: model.outputShape) }
            maps.append(map)
            progress(k + 1, count)
        }
        session.observer = nil
        var cal = Calibration(histograms: hist, images: count, argmax: maps)
        for (v, s) in sums {
            let shape = g.values[v].shape
            let n = Double(count * shape[2] * shape[3])
            cal.channelMeans[v] = s.map { $0 / n }
        }
        return cal
    }
}

/// Runs `input(i)` on a background thread; `take()` waits for it. One job at a time.
final class Prefetcher: @unchecked Sendable {
    // @unchecked: `result` is written by the worker before it signals `done` and read by
    // the caller only after waiting on `done`; one job is in flight at a time.
    private let input: (Int) throws -> [Float]
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<[Float], any Error> = .success([])

    init(_ input: @escaping (Int) throws -> [Float]) { self.input = input }

    func start(_ i: Int) {
        let t = Thread { [self] in
            result = Result { try input(i) }
            done.signal()
        }
        t.stackSize = 1 << 22
        t.start()
    }

    func take() throws -> [Float] {
        done.wait()
        return try result.get()
    }
}

/// Per-pixel argmax of logits and the agreement of two argmax maps.
package enum Agreement {
    /// Argmax over the class axis of `[1, C, H, W]` logits (first maximum wins), from the
    /// runtime's score kernel (`segc_scores`, the one `run` and `eval` use), stored as bytes.
    package static func argmax(_ logits: UnsafeBufferPointer<Float>, shape: [Int]) -> [UInt8] {
        guard shape.count == 4, let base = logits.baseAddress else { return [] }
        let c = shape[1], hw = shape[2] * shape[3]
        var arg = [Int32](repeating: 0, count: hw)
        let rc = arg.withUnsafeMutableBufferPointer { segc_scores(base, Int64(c), Int64(hw), Int32(SEGC_SCORE_NONE), 1, nil, $0.baseAddress) }
        return rc == 0 ? arg.map { UInt8(truncatingIfNeeded: $0) } : []
    }

    /// Fraction of equal entries.
    package static func fraction(_ a: [UInt8], _ b: [UInt8]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var same = 0
        for i in a.indices where a[i] == b[i] { same += 1 }
        return Double(same) / Double(a.count)
    }
}
