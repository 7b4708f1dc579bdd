import ArgumentParser
import SegcCore
import SegcEval
import SegcRuntime
#if canImport(Glibc)
import Glibc
#endif

struct ReproduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Reproduce the paper's tables: tables.md, tables.json and a self-contained report.html.",
        discussion: """
        Examples:
          segc reproduce --models ../shared/models --data ../shared/data
          segc reproduce --models M --data D --tables 1,2,3 --out repro/
        Finds the checkpoints (erfnet_cityscapes, enet_cityscapes, enet_void,
        midenet_distilled, bisenetv1_calibrated_random; .segc, .pth or .onnx)
        and the dataset folders (cityscapes, RoadAnomaly21, RoadObsticle21,
        FS_LostFound_full, fs_static, RoadAnomaly); an absent model or dataset
        is a warning and a gap in the tables. Each frame is decoded once per
        dataset and goes through each network once; all scores of a network
        come from the same logits. Table 2 adds the temperature
        calibrate-temperature finds (first 50 Cityscapes frames, stride 4) to
        0.5, 0.75, 1.1, 2.15. Rows needing `quantize` or `prune` are shown as
        missing. Table 5 is timed with bench's loop (2 warm-up runs, then
        --bench-runs). tables.json gives every figure at full precision with
        the segc command that reproduces it.
        """)

    @Option(help: "Folder with the checkpoints or plans.") var models: String
    @Option(help: "Folder with the dataset folders.") var data: String
    @Option(help: "Tables to produce, comma-separated (1-5).") var tables = "1,2,3,4,5"
    @Option(help: "Output folder (created if needed).") var out = "segc-reproduce"
    @Option(help: "Timed runs per model for Table 5.") var benchRuns = 10
    @OptionGroup var global: GlobalOptions
    @OptionGroup var kernelOptions: KernelOptions

    var tableIDs: [Int] { tables.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: " ")) } }

    func validate() throws {
        let parts = tables.split(separator: ",", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.allSatisfy({ Int($0.trimmingCharacters(in: " ")).map { (1...5).contains($0) } ?? false }) else {
            throw ValidationError("--tables must list table numbers 1-5, e.g. 1,2,3")
        }
        if benchRuns < 1 || benchRuns > 1000 { throw ValidationError("--bench-runs must be between 1 and 1000") }
    }

    func run() throws {
        for dir in [models, data] where !isDirectory(dir) {
            throw SegcError(.io, fileExists(dir) ? "not a folder" : "no such folder", file: dir)
        }
        if fileExists(out) { throw SegcError(.io, "exists and is not a folder", file: out) }
        try kernelOptions.apply(for: models)
        let ids = Set(tableIDs)
        let specs = PaperLayout.tables.filter { ids.contains($0.id) }
        let quiet = global.quiet
        let runner = ReproduceRun(modelsDir: models, dataDir: data, tables: specs, threads: global.threads ?? 0,
                                  benchRuns: benchRuns, outDir: out, quiet: quiet, bar: ProgressBar("reproduce", quiet: quiet),
                                  warn: { if !quiet { FileHandleOut.stderr("warning: \($0)") } })
        let results = try runner.run()
        let facts = MachineFacts.reportFacts(threads: results.threads)
        let output = TablesOutput(tables: specs, results: results, facts: facts)
        let evalWall = results.wallMs - results.benchMs - results.deriveMs
        let outside = evalWall - results.networkMs
        let timing: JSON = .object([
            ("wall", .double(results.wallMs)), ("network", .double(results.networkMs)), ("bench", .double(results.benchMs)),
            ("derive_compressed", .double(results.deriveMs)),
            ("outside_network", .double(outside)), ("outside_network_fraction", .double(evalWall > 0 ? outside / evalWall : 0)),
            ("convert", .double(results.loadMs)), ("decode_work", .double(results.decodeMs)), ("resize_work", .double(results.resizeMs)),
            ("score_work", .double(results.scoreMs)), ("metrics_work", .double(results.metricsMs)),
            ("prefetch_wait", .double(results.prefetchWaitMs)), ("frames", .int(results.framesEvaluated)),
        ])
        var split = "\(formatFixed(results.wallMs / 1000, decimals: 1)) s wall"
        if results.benchMs > 0 { split += " (Table 5 bench \(formatFixed(results.benchMs / 1000, decimals: 1)) s)" }
        if results.deriveMs > 0 { split += " (pruning and quantizing Table 4–5's plans \(formatFixed(results.deriveMs / 1000, decimals: 1)) s)" }
        if results.framesEvaluated > 0 {
            split += "; of the evaluation's \(formatFixed(evalWall / 1000, decimals: 1)) s, networks \(formatFixed(results.networkMs / 1000, decimals: 1)) s, \(formatFixed(evalWall > 0 ? outside / evalWall * 100 : 0, decimals: 1)) % outside them (convert, waiting for frames, the last pooled sorts; decode, resize, scoring and sorting run on background queues overlapping the networks, so on a busy or 2-core machine they slow the networks instead)"
        }
        let page = ReportPage(title: "segc reproduce: Real-Time Anomaly Segmentation for Road Scenes", facts: facts + [("time", split)],
                              tables: output.reportTables(), datasets: output.reportDatasets(),
                              notes: results.warnings.map { "warning: " + $0 })
        let files: [(String, [UInt8])] = [
            ("tables.md", Array(output.markdown().utf8)),
            ("tables.json", Array((output.json(timing: timing).text + "\n").utf8)),
            ("report.html", Array(page.html().utf8)),
        ]
        try makeDirectories(out)
        try Self.writeAll(files.map { (out + "/" + $0.0, $0.1) })
        if global.json {
            print(JSON.object([("out", .string(out)), ("files", .strings(files.map { out + "/" + $0.0 })), ("timing_ms", timing),
                               ("warnings", .strings(results.warnings))]).text)
        } else {
            print("wrote \(files.map { out + "/" + $0.0 }.joined(separator: ", "))")
            print("  \(results.framesEvaluated) frames; \(split)")
        }
    }

    /// Writes every file atomically; if one fails, the ones already written are removed,
    /// so a failed run leaves no partial set of outputs.
    static func writeAll(_ files: [(String, [UInt8])]) throws {
        var written: [String] = []
        do {
            for (path, bytes) in files {
                try AtomicFile.write(path, bytes: bytes)
                written.append(path)
            }
        } catch {
            for p in written { unlink(p) }
            throw error
        }
    }
}
