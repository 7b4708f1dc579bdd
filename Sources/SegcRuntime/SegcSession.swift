import CSegcKernels
import Dispatch
import SegcCore
import SegcPlan

/// Runs a ``SegcModel``: owns the activation arena, the kernels' workspace and a
/// thread pool.
///
/// A session is used by one thread at a time (it is not `Sendable`); create one
/// session per thread that runs the model. Everything a run needs is allocated when
/// the session is created: the steady state (every `run` after the first) allocates
/// nothing. Creation also transforms the convolution weights once for the current
/// ``KernelLevel`` (Winograd matrices, GEMM panels; bounded to about the plan's weight
/// size); after ``KernelLevel/force(_:)`` the next `run` redoes that in place, once.
public final class SegcSession {
    /// The model this session runs.
    public let model: SegcModel
    /// Threads used by the kernels (the calling thread included).
    public let threads: Int

    private let pool: OpaquePointer
    private let arena: UnsafeMutableRawPointer
    private let arenaBytes: Int
    private let scratch: UnsafeMutablePointer<Float>
    private let ws: UnsafeMutablePointer<segc_ws>
    private let ops: UnsafeMutablePointer<segc_op>
    private let opCount: Int
    /// For each kernel call, the plan op it belongs to (observer after the last one).
    private let planIndex: UnsafeMutablePointer<Int>
    /// The same program with `ConvTailFusion`'s conv steps (run when there is no observer).
    private let fusedOps: UnsafeMutablePointer<segc_op>
    private let fusedCount: Int
    private let fusedPlanIndex: UnsafeMutablePointer<Int>
    /// First output of each plan op (pointer into the arena, element count).
    private let firstOutput: UnsafeMutablePointer<UnsafeBufferPointer<Float>>
    /// First output of each plan op when it is uint8 (empty otherwise), for `byteObserver`.
    private let firstByteOutput: [UnsafeBufferPointer<UInt8>]
    private let planOpCount: Int
    private let input: UnsafeMutablePointer<Float>
    private let inputCount: Int
    private let output: UnsafeBufferPointer<Float>
    /// Further graph outputs (``SegcModel/outputNames`` after the first), views into the arena.
    private let extraOutputs: [UnsafeBufferPointer<Float>]
    /// Conv weights transformed once for this session's kernels (referenced by `ops`).
    private let preparedWeights: PreparedConvWeights

    /// Called after each plan op with the op's index and its first output (a view into
    /// the arena, valid during the call). `nil` by default. Used by calibration and
    /// pruning, which need every op's activations.
    package var observer: ((Int, UnsafeBufferPointer<Float>) -> Void)?

    /// Like `observer`, for ops whose first output is uint8 (int8 plans): called after each
    /// such op with its index and the bytes. Used by bias correction (`SegcQuantize`).
    package var byteObserver: ((Int, UnsafeBufferPointer<UInt8>) -> Void)?

    /// With an observer: stop after this plan op (the output is then not computed). For
    /// measurements that need only the first part of the network.
    package var stopAfter: Int?

    /// Whether each run counts, for every uint8 tensor the plan's range guard lists, the codes
    /// saturated at 255, and reports the tensors past their limit in ``rangeExcesses``.
    ///
    /// `segc quantize` measures how far its calibration images drive each int8 tensor; a frame
    /// that drives one much further (an object unlike anything in them, often the anomaly
    /// itself) gets a clipped int8 answer. Checking costs one read of every uint8 tensor
    /// (about 1–2 % of ERFNet's int8 run, `segc bench --guard`). Off by default; without a guard in the plan
    /// (``SegcModel/hasRangeGuard``) there is nothing to check.
    public var checksRange = false

    /// With ``checksRange``: whether a run stops at the first tensor past its limit. Its output
    /// is then not computed, which is what a caller that runs such frames again in float
    /// wants (``SegcModel/floatTwin()``): the rest of the int8 run is skipped, and
    /// ``rangeExcesses`` names that first tensor only. Off by default.
    public var stopsAtRangeExcess = false

    /// After a run with ``checksRange``: the guarded tensors this frame drove past their
    /// limit, in plan order (empty: the frame stayed in the calibrated range, or it was not
    /// checked).
    public private(set) var rangeExcesses: [RangeExcess] = []

    /// Range guard limits by plan op (nil: not guarded).
    private let rangeLimits: [PlanRangeLimit?]

    /// Creates a session.
    ///
    /// - Parameters:
    ///   - model: the model to run.
    ///   - threads: kernel threads including the caller; `0` uses every online CPU.
    ///   - hugePages: back the arena, workspace and prepared weights with transparent huge
    ///     pages (Linux `MADV_HUGEPAGE`): fewer TLB misses, ERFNet and BiSeNetV1 5–9 % faster
    ///     per run, but creating the session can stall 0.1–1 s while the kernel zeroes or
    ///     compacts 2 MiB pages. Pass `false` for a session that runs a frame or two.
    ///     `SEGC_HUGE_PAGES=0` in the environment turns them off for every session.
    /// - Throws: `SegcError` (`.usage` for a negative thread count, `.limit` when the
    ///   arena or workspace would exceed the allocation limit, `.io` when threads
    ///   cannot be started).
    public init(model: SegcModel, threads: Int = 0, hugePages: Bool = true) throws {
        do throws(SegcError) {
            if threads < 0 { throw SegcError(.usage, "thread count must be >= 0, got \(threads)") }
            let n = threads == 0 ? Int(segc_cpu_count()) : min(threads, 256)
            self.model = model
            self.threads = n
            guard let p = segc_pool_create(Int32(n)) else { throw SegcError(.io, "cannot start \(n) threads") }
            pool = p
            let plan = model.plan
            let g = plan.graph
            arenaBytes = g.arenaBytes
            arena = UnsafeMutableRawPointer.allocate(byteCount: max(g.arenaBytes, 64), alignment: 64)
            if hugePages { segc_advise_huge_pages(arena, UInt64(max(g.arenaBytes, 64))) }
            arena.initializeMemory(as: UInt8.self, repeating: 0, count: max(g.arenaBytes, 64))

            let prep = try PreparedConvWeights(model: model, hugePages: hugePages)
            preparedWeights = prep
            var perThread = 0, shared = 0, count = 0
            for (i, op) in model.prepared.enumerated() {
                count += op.steps.count
                for s in op.steps {
                    perThread = max(perThread, s.wsPerThread)
                    if s.ckind == Int32(SEGC_OP_CONV), let w = prep.pointers[i] {
                        var p = s.conv
                        p.prepared = w
                        shared = max(shared, Int(segc_conv2d_ws_shared(&p)))
                    } else {
                        shared = max(shared, s.wsShared)
                    }
                }
            }
            let fusions = model.convTails
            for s in fusions.values { perThread = max(perThread, s.wsPerThread) }
            let scratchFloats = try Checked.add(try Checked.mul(perThread, n), shared)
            try Limits.check(scratchFloats * 4, Limits.maxAllocationBytes, "workspace bytes")
            scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchFloats, 16))
            if hugePages { segc_advise_huge_pages(scratch, UInt64(max(scratchFloats, 16) * 4)) }
            scratch.initialize(repeating: 0, count: max(scratchFloats, 16))
            ws = UnsafeMutablePointer<segc_ws>.allocate(capacity: 1)
            ws.initialize(to: segc_ws(base: scratch, per_thread: Int64(perThread), threads: Int32(n),
                                      shared: scratch + perThread * n, shared_count: Int64(shared)))

            planOpCount = g.ops.count
            firstOutput = UnsafeMutablePointer<UnsafeBufferPointer<Float>>.allocate(capacity: max(g.ops.count, 1))
            let arenaBase = arena
            let store = model.store
            func bind(_ b: Binding, _ opIndex: Int) -> UnsafeMutableRawPointer? {
                switch b {
                case .none: return nil
                case .value(let v): return arenaBase + g.values[v].arenaOffset
                // Image k of a batched value: offset k × image bytes < the value's bytes (PlanValidator).
                case .valueAt(let v, let off): return arenaBase + g.values[v].arenaOffset + off
                case .weight(let off): return UnsafeMutableRawPointer(mutating: store.base + off)
                case .packed: return store.packedBase + store.packedOffsets[opIndex]
                }
            }
            func descriptor(_ s: Step, _ i: Int) -> segc_op {
                var o = segc_op()
                o.kind = s.ckind
                o.sub = s.sub
                o.conv = s.conv
                if s.ckind == Int32(SEGC_OP_CONV) { o.conv.prepared = prep.pointers[i] }
                o.qconv = s.qconv
                o.pool = s.pool
                withUnsafeMutableBytes(of: &o.d) { raw in
                    let d = raw.bindMemory(to: Int64.self)
                    for (j, v) in s.d.prefix(12).enumerated() { d[j] = v }
                }
                o.fval = s.fval
                o.resize = s.resize
                o.in0 = UnsafePointer(bind(s.in0, i)?.assumingMemoryBound(to: Float.self))
                o.in1 = UnsafePointer(bind(s.in1, i)?.assumingMemoryBound(to: Float.self))
                o.w0 = UnsafePointer(bind(s.w0, i)?.assumingMemoryBound(to: Float.self))
                o.w1 = UnsafePointer(bind(s.w1, i)?.assumingMemoryBound(to: Float.self))
                o.w2 = UnsafePointer(bind(s.w2, i)?.assumingMemoryBound(to: Float.self))
                o.in_idx = UnsafePointer(bind(s.inIdx, i)?.assumingMemoryBound(to: Int64.self))
                o.out0 = bind(s.out0, i)?.assumingMemoryBound(to: Float.self)
                o.out_idx = bind(s.outIdx, i)?.assumingMemoryBound(to: Int64.self)
                o.out1 = bind(s.out1, i)?.assumingMemoryBound(to: Float.self)
                o.fval2 = s.fval2
                let tailRes = UnsafePointer(bind(s.tailRes, i)?.assumingMemoryBound(to: Float.self))
                let tailSlope = UnsafePointer(bind(s.tailSlope, i)?.assumingMemoryBound(to: Float.self))
                if s.ckind == Int32(SEGC_OP_QCONV) {
                    o.qtail.res = tailRes
                    o.qtail.slope = tailSlope
                    o.qtail.out = bind(s.tailOut, i)?.assumingMemoryBound(to: Float.self)
                    o.qtail.q = bind(s.tailQ, i)?.assumingMemoryBound(to: UInt8.self)
                    o.qtail.q_scale = s.tailQScale
                    o.qtail.q_zp = s.tailQZeroPoint
                    o.qtail.act = s.tailAct
                    o.qtail.conv_first = s.tailConvFirst
                    o.qtail.nslope = s.tailNSlope
                } else {
                    o.tail.res = tailRes
                    o.tail.slope = tailSlope
                    o.tail.act = s.tailAct
                    o.tail.nslope = s.tailNSlope
                }
                return o
            }
            /// The kernel calls of the plan, with `tails`' conv steps in place of the `span` plan
            /// ops each stands for (conv, add, activation, and for int8 convs maybe a quantize);
            /// and for each call, its plan op.
            func program(_ tails: [Int: Step]) -> (UnsafeMutablePointer<segc_op>, UnsafeMutablePointer<Int>, Int) {
                let length = count - tails.values.reduce(0) { $0 + $1.span - 1 }
                let calls = UnsafeMutablePointer<segc_op>.allocate(capacity: max(length, 1))
                let index = UnsafeMutablePointer<Int>.allocate(capacity: max(length, 1))
                var k = 0, i = 0
                while i < model.prepared.count {
                    for s in tails[i].map({ [$0] }) ?? model.prepared[i].steps {
                        (calls + k).initialize(to: descriptor(s, i))
                        (index + k).initialize(to: i)
                        k += 1
                    }
                    i += tails[i]?.span ?? 1
                }
                return (calls, index, length)
            }
            (ops, planIndex, opCount) = program([:])
            (fusedOps, fusedPlanIndex, fusedCount) = program(fusions)
            for i in g.ops.indices {
                // The observer sees float32 outputs only (an int8 op's uint8 output: empty).
                let ov = g.values[g.ops[i].outputs[0]]
                (firstOutput + i).initialize(to: UnsafeBufferPointer(
                    start: (arenaBase + ov.arenaOffset).assumingMemoryBound(to: Float.self),
                    count: ov.dtype == .f32 ? ov.elementCount : 0))
            }
            firstByteOutput = g.ops.map { op in
                let ov = g.values[op.outputs[0]]
                return UnsafeBufferPointer(start: (arenaBase + ov.arenaOffset).assumingMemoryBound(to: UInt8.self),
                                           count: ov.dtype == .u8 ? ov.elementCount : 0)
            }
            var limits = [PlanRangeLimit?](repeating: nil, count: g.ops.count)
            // Checked by PlanVerifier; a limit on anything but a uint8 output is skipped.
            for r in plan.metadata.rangeGuard where r.op < g.ops.count && !firstByteOutput[r.op].isEmpty { limits[r.op] = r }
            rangeLimits = limits
            let iv = g.values[g.input], ovv = g.values[g.output]
            input = (arena + iv.arenaOffset).assumingMemoryBound(to: Float.self)
            inputCount = iv.elementCount
            output = UnsafeBufferPointer(start: (arena + ovv.arenaOffset).assumingMemoryBound(to: Float.self),
                                         count: ovv.elementCount)
            // Offsets, sizes and dtypes checked by plan verification and PlanValidator.
            let base = arena
            extraOutputs = model.plan.metadata.extraOutputs.map { e in
                let v = g.values[e.value]
                return UnsafeBufferPointer(start: (base + v.arenaOffset).assumingMemoryBound(to: Float.self), count: v.elementCount)
            }
        } catch {
            throw error
        }
    }

    deinit {
        segc_pool_destroy(pool)
        arena.deallocate()
        scratch.deallocate()
        ws.deallocate()
        ops.deallocate()
        planIndex.deallocate()
        fusedOps.deallocate()
        fusedPlanIndex.deallocate()
        firstOutput.deallocate()
    }

    /// Runs the network on `input` (the `[1, 3, H, W]` float tensor of
    /// ``SegcModel/inputShape``, row-major).
    ///
    /// - Returns: the logits (``SegcModel/outputShape``) as a view into the session's
    ///   arena, valid until the next `run` or until the session is released.
    /// - Throws: `SegcError` `.mismatch` when `input` has the wrong element count,
    ///   `.malformed` when a kernel rejects its data (e.g. an unpool index outside
    ///   the output plane).
    public func run(_ input: UnsafeBufferPointer<Float>) throws -> UnsafeBufferPointer<Float> {
        try runTyped(input)
    }

    /// Typed-throws form of ``run(_:)-(UnsafeBufferPointer<Float>)``.
    package func runTyped(_ input: UnsafeBufferPointer<Float>) throws(SegcError) -> UnsafeBufferPointer<Float> {
        let wsp = try prepareRun(input)
        let obs = observer, bytes = byteObserver
        let guarding = checksRange
        if obs == nil && bytes == nil {
            for k in 0..<fusedCount {
                let rc = segc_exec(pool, fusedOps + k, wsp)
                if rc != 0 { throw kernelError(rc, planIndex: fusedPlanIndex[k]) }
                // A fused call stands for plan ops up to the next call's first; its uint8
                // output (a fused quantize) is the last of them.
                if guarding {
                    checkRange(fusedPlanIndex[k]..<(k + 1 < fusedCount ? fusedPlanIndex[k + 1] : planOpCount))
                    if stopsAtRangeExcess && !rangeExcesses.isEmpty { return output }
                }
            }
            return output
        }
        for k in 0..<opCount {
            let rc = segc_exec(pool, ops + k, wsp)
            if rc != 0 { throw kernelError(rc, planIndex: planIndex[k]) }
            let i = planIndex[k]
            if k + 1 == opCount || planIndex[k + 1] != i {
                if guarding {
                    checkRange(i..<(i + 1))
                    if stopsAtRangeExcess && !rangeExcesses.isEmpty { return output }
                }
                obs?(i, firstOutput[i])
                if let bytes, !firstByteOutput[i].isEmpty { bytes(i, firstByteOutput[i]) }
                if i == stopAfter { break }
            }
        }
        return output
    }

    /// Counts the saturated codes of the guarded uint8 outputs of plan ops `range`.
    private func checkRange(_ range: Range<Int>) {
        for i in range {
            guard let r = rangeLimits[i] else { continue }
            let b = firstByteOutput[i]
            let n = Int(segc_count_u8(pool, Int64(b.count), 255, b.baseAddress))
            if n > r.limit {
                let name = model.plan.sourceName(i) ?? "op \(i)"
                rangeExcesses.append(RangeExcess(op: i, layer: name, saturated: n, limit: r.limit, calibrationMax: r.max))
            }
        }
    }

    /// What every run does first: clears the last range report, checks the input's size,
    /// copies it into the arena (unless it is already there) and re-prepares the conv weights
    /// after a level change.
    private func prepareRun(_ input: UnsafeBufferPointer<Float>) throws(SegcError) -> UnsafePointer<segc_ws> {
        // No stale report: not after an unchecked run, nor after one that fails here.
        if !rangeExcesses.isEmpty { rangeExcesses.removeAll(keepingCapacity: true) }
        guard input.count == inputCount, let src = input.baseAddress else {
            throw SegcError(.mismatch, "input has \(input.count) elements, the model expects \(inputCount)")
        }
        if src != UnsafePointer(self.input) { self.input.update(from: src, count: inputCount) }
        try preparedWeights.refreshIfLevelChanged()
        return UnsafePointer(ws)
    }

    /// Runs the network like ``run(_:)-(UnsafeBufferPointer<Float>)`` and adds each kernel
    /// call's wall time (ns) to `nanoseconds[i]`, `i` the plan op it executes (a conv with a
    /// fused tail counts as the conv). `nanoseconds` has one entry per plan op. Used by
    /// `segc bench --profile`; the clock reads cost ~50 ns per op.
    package func runProfiled(_ input: UnsafeBufferPointer<Float>, nanoseconds: inout [UInt64]) throws(SegcError) {
        guard nanoseconds.count == planOpCount else {
            throw SegcError(.usage, "profile has \(nanoseconds.count) entries, the plan \(planOpCount) ops")
        }
        let wsp = try prepareRun(input)
        var t = DispatchTime.now().uptimeNanoseconds
        for k in 0..<fusedCount {
            let rc = segc_exec(pool, fusedOps + k, wsp)
            if rc != 0 { throw kernelError(rc, planIndex: fusedPlanIndex[k]) }
            let now = DispatchTime.now().uptimeNanoseconds
            nanoseconds[fusedPlanIndex[k]] &+= now &- t
            t = now
        }
    }

    /// Output `k` of the last ``run(_:)-(UnsafeBufferPointer<Float>)`` (0: the one `run`
    /// returns; a plan converted from an ONNX model with several outputs has more, named by
    /// ``SegcModel/outputNames``), as a view valid until the next `run`.
    ///
    /// - Throws: `SegcError` `.usage` when `k` is not below ``SegcModel/outputNames``'s count.
    public func output(_ k: Int) throws -> UnsafeBufferPointer<Float> {
        if k == 0 { return output }
        guard k > 0, k <= extraOutputs.count else {
            throw SegcError(.usage, "output \(k) requested; the model has \(extraOutputs.count + 1)")
        }
        return extraOutputs[k - 1]
    }

    /// Runs the network on `input` and returns a copy of the logits.
    ///
    /// Convenience form of ``run(_:)-(UnsafeBufferPointer<Float>)`` that allocates the result.
    public func run(_ input: [Float]) throws -> [Float] {
        let out = try input.withUnsafeBufferPointer { buf throws(SegcError) in try runTyped(buf) }
        return Array(out)
    }

    private func kernelError(_ rc: Int32, planIndex i: Int) -> SegcError {
        let op = model.plan.graph.ops[i]
        let name = model.plan.sourceName(i) ?? "op \(i) (\(op.kind.name))"
        switch rc {
        case Int32(SEGC_ERANGE):
            return SegcError(.malformed, "\(op.kind.name): an index lies outside the output plane", at: .layer(name))
        case Int32(SEGC_EUNSUP):
            return SegcError(.unsupported, "\(op.kind.name): not supported by the kernels", at: .layer(name))
        default:
            return SegcError(.malformed, "\(op.kind.name): kernel error \(rc)", at: .layer(name))
        }
    }
}

/// A uint8 tensor that a frame drove past its range guard limit (``SegcSession/rangeExcesses``).
public struct RangeExcess: Sendable, Hashable {
    /// The plan op that wrote the tensor.
    public let op: Int
    /// Its layer in the source model (the plan's source map).
    public let layer: String
    /// Codes this frame saturated at 255.
    public let saturated: Int
    /// The most the plan allows before the frame counts as out of range.
    public let limit: Int
    /// The most any calibration image saturated.
    public let calibrationMax: Int
}
