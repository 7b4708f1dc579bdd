// HeatmapExample — how an application embeds segc: load a plan, run it on an image,
// turn the logits into a per-pixel anomaly score and write a heatmap. Uses only the
// public API of SegcRuntime and SegcEval (no importer, pass or CLI code).
//
//   swift run -c release HeatmapExample erfnet.segc frame.png heatmap.png
#if canImport(Glibc)
import Glibc
#endif
import SegcRuntime
import SegcEval

/// Writes one line to standard error (fd 2; the C `stderr` global is not concurrency-safe).
func printError(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

let args = CommandLine.arguments
guard args.count == 4 else {
    printError("usage: HeatmapExample PLAN.segc IMAGE OUT.png")
    exit(2)
}

do {
    let model = try SegcModel(contentsOf: args[1])          // verified before it runs
    let session = try SegcSession(model: model, threads: 0) // owns the arena; one thread at a time
    let (height, width) = (model.inputShape[2], model.inputShape[3])
    // Decode, convert to RGB, Pillow-identical bilinear resize, scale to [0, 1].
    let input = try Image.networkInput(contentsOf: args[2], width: width, height: height)
    let logits = try session.run(input)
    let pixels = model.outputShape[2] * model.outputShape[3]
    let (scores, _) = try Scores.compute(.msp(temperature: 1), logits: logits, classes: model.classes, pixels: pixels)
    let heatmap = try Visualization.heatmap(scores: scores, width: model.outputShape[3], height: model.outputShape[2])
    try PNGWriter.write(heatmap, to: args[3])
    print("\(args[3]): MSP heatmap \(model.outputShape[3])x\(model.outputShape[2])")
} catch {
    printError("error: \(error)")
    exit(1)
}
