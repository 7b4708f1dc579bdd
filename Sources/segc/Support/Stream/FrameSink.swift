import SegcCore
import SegcEval

/// The last stage: scores and argmax from the logits, written as `run` writes them,
/// one file per frame under each requested folder (atomic writes: whole or absent).
struct FrameSink: Sendable {
    var score: AnomalyScore?
    var output: String?
    var heatmap: String?
    var segmentation: String?
    /// `-o` holds the score map (with --score) rather than the logits.
    var scoreIsOutput: Bool
    var outputShape: [Int]

    /// `--no-write`: nothing reads the logits, so the network stage does not copy them
    /// (40 MiB a frame for ERFNet at 512x1024: a serial memcpy plus fresh pages).
    var readsLogits: Bool { output != nil || heatmap != nil || segmentation != nil }

    func write(name: String, logits: [Float]) throws(SegcError) {
        let (classes, oh, ow) = (outputShape[1], outputShape[2], outputShape[3])
        let needScores = (output != nil && scoreIsOutput) || heatmap != nil
        var scoreMap: [Float] = []
        var classMap: [Int32] = []
        if needScores || segmentation != nil {
            (scoreMap, classMap) = try Scores.compute(needScores ? score : nil, logits: logits, classes: classes,
                                                      pixels: oh * ow, argmax: segmentation != nil)
        }
        if let output {
            if scoreIsOutput { try Npy.write(scoreMap, shape: [oh, ow], to: "\(output)/\(name).npy") }
            else { try Npy.write(logits, shape: outputShape, to: "\(output)/\(name).npy") }
        }
        if let heatmap {
            try PNGWriter.write(try Visualization.heatmap(scores: scoreMap, width: ow, height: oh), to: "\(heatmap)/\(name).png")
        }
        if let segmentation {
            try PNGWriter.write(try Visualization.segmentation(classes: classMap, width: ow, height: oh),
                                to: "\(segmentation)/\(name).png")
        }
    }
}
