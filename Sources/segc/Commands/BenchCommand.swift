import ArgumentParser
import CSegcAllocCounter
import SegcCore
import SegcPlan
import SegcRuntime
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time inference of a plan: load once, one session, warm-up, timed runs.",
        discussion: """
        Examples:
          segc bench erfnet.segc --threads 2
          segc bench erfnet.segc --runs 30 --warmup 5 --json
          segc bench erfnet.segc --input city1_512x1024.npy
          segc bench erfnet.segc --kernels avx2          # force a level (auto, scalar, avx2, avx512)
          segc bench erfnet.segc --profile               # also where the time goes, per layer and op kind
          segc bench erfnet.int8.segc --guard            # with the int8 plan's range guard checked on every run
        allocations_per_run counts heap allocations (malloc/calloc/realloc/memalign, interposed in
        the segc executable) during the timed runs, divided by --runs; 0 is the steady-state contract.
        """)

    @Argument(help: "A .segc plan (or a model, converted with convert's defaults first).")
    var plan: String

    @Option(help: "Timed runs.") var runs = 20
    @Option(help: "Untimed warm-up runs.") var warmup = 3
    @Option(help: "Input .npy (default: a fixed pseudo-random tensor in [0,1)).") var input: String?
    @Option(help: "Architecture, when PLAN is a model.") var arch: String?
    @Option(help: "Input size HxW, when PLAN is a model.") var inputSize: InputSize?
    @Flag(help: "After the timed runs, as many profiled runs: mean time per layer (top 15) and per op kind.")
    var profile = false
    @Flag(name: .customLong("guard"), help: "Check the int8 plan's range guard on every run (what `run --guard` and `eval --guard` pay).")
    var checksRange = false
    @OptionGroup var global: GlobalOptions
    @OptionGroup var kernelOptions: KernelOptions

    func validate() throws {
        if runs < 1 || runs > 100_000 { throw ValidationError("--runs must be between 1 and 100000") }
        if warmup < 0 || warmup > 100_000 { throw ValidationError("--warmup must be between 0 and 100000") }
    }

    static func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

    func run() throws {
        let t0 = ContinuousClock.now
        // Counting during load too: a non-zero `load_allocations` shows the
        // interposer is live, so the timed runs' 0 is a measurement, not a default.
        segc_alloc_counting(1)
        try kernelOptions.apply(for: plan)
        let (model, meta) = try PlanLoader.loadWithMetadata(plan, arch: arch, size: inputSize)
        let threads = global.threads ?? 0
        let session = try SegcSession(model: model, threads: threads)
        if checksRange {
            try GuardedNetwork.requireRangeGuard(model, plan: plan)
            session.checksRange = true
        }
        segc_alloc_counting(0)
        let loadAllocations = Int(segc_alloc_count())
        let loadMs = Self.ms(ContinuousClock.now - t0)
        let n = model.inputShape.reduce(1, *)
        let data: [Float]
        if let input {
            let arr = try Npy.read(contentsOf: input)
            guard arr.count == n else { throw SegcError(.mismatch, "input has \(arr.count) elements, the plan needs \(n)", file: input) }
            data = arr.floats
        } else {
            data = Self.defaultInput(count: n)
        }
        let times = try Self.measure(session: session, input: data, warmup: warmup, runs: runs, counting: true)
        // The timing array was allocated before counting started; reading the
        // clock does not allocate, so these counts are the runtime's own.
        let allocs = Double(segc_alloc_count()) / Double(runs)
        let allocBytes = Double(segc_alloc_bytes()) / Double(runs)
        let sorted = times.sorted()
        let median = Self.median(sorted)
        let mean = times.reduce(0, +) / Double(times.count)
        let hugeBytes = Self.anonHugePagesBytes()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let rss = Int(usage.ru_maxrss) * 1024
        // The guard's cost: as many runs again, alternating unchecked and checked on this
        // session, so both halves see the same machine (shared hosts drift by 10–20 %).
        var guardCost: (unchecked: Double, checked: Double)?
        if checksRange {
            var off: [Double] = [], on: [Double] = []
            for k in 0..<(2 * runs) {
                session.checksRange = k % 2 == 1
                let t = try Self.measure(session: session, input: data, warmup: 0, runs: 1)[0]
                if session.checksRange { on.append(t) } else { off.append(t) }
            }
            session.checksRange = true
            guardCost = (Self.median(off.sorted()), Self.median(on.sorted()))
        }
        let profile = try self.profile ? OpProfile.measure(session: session, model: model, input: data, runs: runs) : nil
        let size = model.inputShape.count == 4 ? "\(model.inputShape[2])x\(model.inputShape[3])" : "\(model.inputShape)"
        // Plans with int8 ops also name the int8 conv kernel (the VNNI ones depend on the CPU).
        let int8Kernel = meta.precision == "fp32" ? nil : KernelLevel.int8ConvKernel
        if global.json {
            var fields: [(String, JSON)] = [
                ("plan", .string(plan)), ("precision", .string(meta.precision)), ("input_size", .ints(Array(model.inputShape.suffix(2)))),
                ("threads", .int(session.threads)), ("runs", .int(runs)), ("warmup", .int(warmup)), ("kernels", .string(KernelLevel.current.description)),
                ("load_ms", .double(loadMs)), ("min_ms", .double(sorted[0])), ("median_ms", .double(median)),
                ("mean_ms", .double(mean)), ("max_ms", .double(sorted[sorted.count - 1])), ("times_ms", .array(times.map { .double($0) })),
                ("peak_rss_bytes", .int(rss)), ("anon_huge_pages_bytes", hugeBytes.map { .int($0) } ?? .null), ("allocation_counting", .bool(segc_alloc_counting_available() != 0)),
                ("load_allocations", .int(loadAllocations)), ("allocations_per_run", .double(allocs)), ("allocated_bytes_per_run", .double(allocBytes)),
            ]
            if let int8Kernel { fields.insert(("int8_kernel", .string(int8Kernel)), at: 7) }   // after "kernels"
            if let guardCost {
                fields.append(("range_guard", .object([("unchecked_median_ms", .double(guardCost.unchecked)),
                                                        ("checked_median_ms", .double(guardCost.checked))])))
            }
            if let profile { fields.append(("profile", profile.json)) }
            print(JSON.object(fields).text)
        } else {
            print("\(plan) \(meta.precision) \(size), \(session.threads) threads, \(KernelLevel.current.description)\(int8Kernel.map { " (int8 \($0))" } ?? "")\(checksRange ? ", range guard checked" : ""): median \(String(format2: median)) ms (min \(String(format2: sorted[0])), max \(String(format2: sorted[sorted.count - 1]))), peak RSS \(rss >> 20) MiB, \(allocs) allocations/run")
            if let g = guardCost {
                print("  range guard: \(String(format2: g.checked - g.unchecked)) ms per run (\(String(format2: (g.checked / g.unchecked - 1) * 100)) %): median \(String(format2: g.unchecked)) ms unchecked, \(String(format2: g.checked)) ms checked, \(runs) alternating pairs")
            }
            if let profile { print(profile.text) }
        }
    }

    /// Anonymous memory on transparent huge pages in this process now (Linux
    /// `/proc/self/smaps_rollup`), nil where that file is missing: shows whether the session's
    /// arena got huge pages (`SEGC_HUGE_PAGES=0` turns them off).
    static func anonHugePagesBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("AnonHugePages:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// The fixed pseudo-random input in [0, 1) (xorshift): the same tensor on every run
    /// and every machine.
    static func defaultInput(count n: Int) -> [Float] {
        var data = [Float](repeating: 0, count: n)
        var s: UInt64 = 0x9E3779B97F4A7C15
        for i in 0..<n { s ^= s << 13; s ^= s >> 7; s ^= s << 17; data[i] = Float(s >> 40) / Float(1 << 24) }
        return data
    }

    /// `warmup` untimed then `runs` timed inferences on one session (ms each). With
    /// `counting`, the allocation counter covers exactly the timed runs.
    static func measure(session: SegcSession, input: [Float], warmup: Int, runs: Int, counting: Bool = false) throws -> [Double] {
        var times = [Double](repeating: 0, count: runs)
        try input.withUnsafeBufferPointer { buf in
            for _ in 0..<warmup { _ = try session.run(buf) }
            if counting { segc_alloc_counting(1) }
            for i in 0..<runs {
                let s = ContinuousClock.now
                _ = try session.run(buf)
                times[i] = Self.ms(ContinuousClock.now - s)
            }
            if counting { segc_alloc_counting(0) }
        }
        return times
    }

    /// Median of sorted values (mean of the middle two for an even count).
    static func median(_ sorted: [Double]) -> Double {
        sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
