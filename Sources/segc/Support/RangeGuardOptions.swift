import ArgumentParser
import SegcCore
import SegcRuntime

/// `--guard` and `--fallback PLAN` (run, eval, stream): check an int8 plan's range guard on every
/// frame and, with a fallback, answer the frames it flags with that (fp32) plan.
struct RangeGuardOptions: ParsableArguments {
    @Flag(name: .customLong("guard"), help: "Check the int8 plan's range guard on each frame: report the frames that drive a tensor past what calibration saw.")
    var checksRange = false

    @Option(help: "A plan (or model) with the same input and output, run on the frames the range guard flags (implies --guard), e.g. the fp32 plan that was quantized.")
    var fallback: String?

    @Flag(help: "Run the frames the range guard flags on the int8 plan's own float twin (its weights dequantized; implies --guard).")
    var fallbackFloat = false

    var enabled: Bool { checksRange || fallback != nil || fallbackFloat }

    func validate() throws {
        if fallback != nil && fallbackFloat { throw ValidationError("give --fallback PLAN or --fallback-float, not both") }
    }
}

/// One network as `run`, `eval` and `stream` see it: the plan's session and, under `--guard`, the
/// range check and the fallback session for the frames it flags.
final class GuardedNetwork {
    let session: SegcSession
    private let fallback: SegcSession?
    /// The fallback's name in reports: its path, or "float twin".
    let fallbackPath: String?
    /// Frames run so far, and those the guard flagged.
    private(set) var frames = 0, flagged = 0
    /// The excesses of the last frame (empty: in range or not checked).
    private(set) var lastExcesses: [RangeExcess] = []

    init(session: SegcSession, plan: String, options: RangeGuardOptions, arch: String?, threads: Int, hugePages: Bool) throws {
        self.session = session
        guard options.enabled else { fallback = nil; fallbackPath = nil; return }
        try Self.requireRangeGuard(session.model, plan: plan)
        session.checksRange = true
        if options.fallbackFloat {
            do {
                fallback = try SegcSession(model: try session.model.floatTwin(), threads: threads, hugePages: hugePages)
            } catch let e as SegcError {
                throw e.inFile(plan)
            }
            fallbackPath = "float twin"
        } else if let path = options.fallback {
            // A model given as the fallback is converted at the int8 plan's input size.
            let own = session.model
            let size = own.inputShape.count == 4 ? InputSize(height: own.inputShape[2], width: own.inputShape[3]) : nil
            let (m, meta) = try PlanLoader.loadWithMetadata(path, arch: arch, size: size)
            // Every output: a flagged frame's outputs all come from the fallback (run -o DIR).
            guard m.inputShape == own.inputShape, m.outputShapes == own.outputShapes else {
                throw SegcError(.mismatch, "fallback plan maps \(m.inputShape) to \(Self.shapes(m)); \(plan) maps \(own.inputShape) to \(Self.shapes(own))", file: path)
            }
            // Frames are preprocessed once, as the int8 plan says; the fallback must agree.
            let pre = own.plan.metadata
            guard meta.mean == pre.mean, meta.std == pre.std, meta.scale == pre.scale, meta.color == pre.color else {
                throw SegcError(.mismatch, "fallback plan preprocesses its input differently (mean \(meta.mean), std \(meta.std)) from \(plan) (mean \(pre.mean), std \(pre.std))", file: path)
            }
            fallback = try SegcSession(model: m, threads: threads, hugePages: hugePages)
            fallbackPath = path
        } else {
            fallback = nil
            fallbackPath = nil
        }
        // A flagged frame is answered by the fallback: the rest of its int8 run is wasted.
        session.stopsAtRangeExcess = fallback != nil
    }

    /// Refuses a plan without a range guard (`--guard` on run, eval, stream and bench).
    static func requireRangeGuard(_ model: SegcModel, plan: String) throws {
        guard model.hasRangeGuard else {
            throw SegcError(.unsupported, "the plan has no range guard (int8 plans from `segc quantize` with calibration images have one)", file: plan)
        }
    }

    /// Runs one preprocessed frame: the logits of the plan, or of the fallback when the
    /// guard flags the frame.
    func run(_ x: UnsafeBufferPointer<Float>) throws -> UnsafeBufferPointer<Float> {
        let y = try session.run(x)
        frames += 1
        lastExcesses = session.rangeExcesses
        guard !lastExcesses.isEmpty else { return y }
        flagged += 1
        return try fallback?.run(x) ?? y
    }

    /// Whether the last frame's logits came from the fallback.
    var lastUsedFallback: Bool { fallback != nil && !lastExcesses.isEmpty }

    /// Output `k` of the last frame (``SegcSession/output(_:)``), from the network that answered
    /// it: the int8 session stops at the first tensor past its limit when a fallback answers.
    func output(_ k: Int) throws -> UnsafeBufferPointer<Float> {
        if lastUsedFallback, let fallback { return try fallback.output(k) }
        return try session.output(k)
    }

    /// A model's output shapes, the first alone when it has one (for messages).
    private static func shapes(_ m: SegcModel) -> String {
        m.outputShapes.count == 1 ? "\(m.outputShape)" : "\(m.outputShapes)"
    }

    /// `range_guard` for `--json`: the frame counts (nil when not checked).
    var summaryJSON: JSON {
        .object([("frames", .int(frames)), ("out_of_range", .int(flagged)),
                 ("fallback", fallbackPath.map { .string($0) } ?? .null)])
    }

    /// A one-line description of the last frame's excesses (the worst first).
    static func describe(_ e: [RangeExcess]) -> String {
        guard let worst = e.max(by: { Double($0.saturated) / Double(max($0.limit, 1)) < Double($1.saturated) / Double(max($1.limit, 1)) }) else {
            return "in the calibrated range"
        }
        return "out of the calibrated range in \(e.count) tensor\(e.count == 1 ? "" : "s"), most at \(worst.layer) (\(worst.saturated) codes at 255, limit \(worst.limit), calibration at most \(worst.calibrationMax))"
    }
}
