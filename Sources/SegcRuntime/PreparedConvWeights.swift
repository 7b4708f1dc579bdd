import CSegcKernels
import SegcCore
import SegcPlan

/// A session's convolution weights transformed once (`segc_conv2d_prepare`): Winograd's U
/// matrices and GEMM panels that each call would otherwise recompute from the plan's
/// weights — ~7 ms of serial work per ERFNet frame, and BiSeNetV1's 512-channel stage
/// rewrote 16·512·512 floats per conv per frame.
///
/// Prepared weights are larger than the plan's (U is 1.8–4x), so they are bounded: convs
/// are taken by prepared bytes per output pixel, largest first (small planes, where the
/// per-call transform weighs most against the multiplies), while the total stays within
/// `max(32 MiB, the plan's conv weight bytes)`. Where the plan is a mapped file, the pages of a
/// prepared conv's original weights are released afterwards (they are re-read from the
/// file if anything touches them again), so peak RSS grows by the difference only.
///
/// The data is for the dispatch level current when it was made (GEMM panels depend on
/// it); ``refreshIfLevelChanged()`` redoes it in place after a level change.
final class PreparedConvWeights {
    /// Per plan op: the prepared buffer of its conv, or nil.
    private(set) var pointers: [UnsafePointer<Float>?]
    private let buffer: UnsafeMutablePointer<Float>?
    private let jobs: [Job]
    private var level: String

    private typealias Job = (op: Int, params: segc_conv_params, weight: UnsafePointer<Float>, offset: Int)

    init(model: SegcModel, hugePages: Bool = true) throws(SegcError) {
        let ops = model.prepared, g = model.plan.graph, store = model.store
        var candidates: [(op: Int, floats: Int, perPixel: Double)] = []
        var weightBytes = 0
        for (i, op) in ops.enumerated() where op.kind == .conv2d {
            var p = op.conv
            let n = Int(segc_conv2d_prepared_size(&p))
            weightBytes += g.ops[i].weights.first.map { $0.byteCount } ?? 0
            if n > 0 { candidates.append((i, n, Double(n) / Double(max(1, p.oh * p.ow)))) }
        }
        let budget = max(32 << 20, weightBytes)
        var chosen: [(op: Int, floats: Int)] = []
        var total = 0
        for c in candidates.sorted(by: { $0.perPixel > $1.perPixel }) {
            let padded = (c.floats + 15) & ~15   // 64-byte aligned slots
            if (total + padded) * 4 > budget { continue }
            chosen.append((c.op, padded))
            total += padded
        }
        try Limits.check(total * 4, Limits.maxAllocationBytes, "prepared weight bytes")
        var list: [Job] = []
        var offset = 0
        for c in chosen.sorted(by: { $0.op < $1.op }) {
            list.append((c.op, ops[c.op].conv, store.pointer(g.ops[c.op].weights[0]), offset))
            offset += c.floats
        }
        // Everything in locals until it has worked: a throw below leaves no half-made object.
        let buf = total > 0
            ? UnsafeMutableRawPointer.allocate(byteCount: total * 4, alignment: 64).bindMemory(to: Float.self, capacity: total)
            : nil
        var ptrs = [UnsafePointer<Float>?](repeating: nil, count: ops.count)
        if let buf {
            if hugePages { segc_advise_huge_pages(buf, UInt64(total * 4)) }
            do throws(SegcError) { try Self.prepare(list, into: buf) } catch { buf.deallocate(); throw error }
            for j in list {
                ptrs[j.op] = UnsafePointer(buf + j.offset)
                store.releaseResidentPages(of: g.ops[j.op].weights[0])
            }
        }
        buffer = buf
        jobs = list
        pointers = ptrs
        level = KernelLevel.current.description
    }

    /// Runs `segc_conv2d_prepare` for every job at the current dispatch level.
    private static func prepare(_ jobs: [Job], into buffer: UnsafeMutablePointer<Float>) throws(SegcError) {
        for j in jobs {
            var p = j.params
            let rc = segc_conv2d_prepare(&p, j.weight, buffer + j.offset)
            if rc != 0 { throw SegcError(.unsupported, "cannot prepare convolution weights (\(rc))", at: .layer("op \(j.op)")) }
        }
    }

    deinit { buffer?.deallocate() }

    /// Redoes the preparation (same sizes, same buffer) when the dispatch level changed
    /// since (`KernelLevel.force`); without it the kernels would take their unprepared path,
    /// whose shared workspace this session did not reserve.
    func refreshIfLevelChanged() throws(SegcError) {
        let now = KernelLevel.current.description
        if now == level { return }
        if let buffer { try Self.prepare(jobs, into: buffer) }
        level = now
    }
}
