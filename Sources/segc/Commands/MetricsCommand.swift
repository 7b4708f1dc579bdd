import ArgumentParser
import SegcCore
import SegcCompiler
import SegcEval

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "AuPRC and FPR95 (or IoU) from saved score and label arrays, exactly as scikit-learn / ood_metrics / iouEval.",
        discussion: """
        Examples:
          segc metrics scores.npy labels.npy                    # anomaly: labels 1 positive, 0 negative, others ignored
          segc metrics scores/ labels/ --json                   # folders paired by stem; frames without a positive skipped
          segc metrics pred.npy gt.png --iou                    # class ids (or logits [C,H,W]) vs train ids, 255 -> 19
        """)

    @Argument(help: "Scores .npy (or a folder of them).") var scores: String
    @Argument(help: "Labels .npy or .png (or a folder of them).") var labels: String
    @Flag(help: "IoU mode: SCORES are predicted class ids or logits.") var iou = false
    @Option(help: "Classes for --iou (default 20).") var classes = 20
    @Option(help: "Ignored class for --iou (default 19).") var ignoreIndex = 19
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if classes < 1 || classes > 255 { throw ValidationError("--classes must be between 1 and 255") }
        if ignoreIndex < 0 { throw ValidationError("--ignore-index must be ≥ 0") }
    }

    /// Label values as bytes; values outside 0...255 become 255 (ignored / error in IoU mode).
    static func loadLabels(_ path: String) throws -> (values: [UInt8], shape: [Int]) {
        let bytes = try FileBytes(contentsOf: path)
        if Image.sniff(bytes.buffer) != nil {
            let m = try LabelMask.decode(contentsOf: path)
            return (m.values, [m.height, m.width])
        }
        let a = try Npy.read(bytes)
        guard let ints = a.int64s else { throw SegcError(.mismatch, "labels must be integers (uint8/int32/int64/bool)", file: path) }
        return (ints.map { $0 >= 0 && $0 <= 255 ? UInt8($0) : 255 }, a.shape)
    }

    func pairs() throws -> [(String, String)] {
        if isDirectory(scores) {
            guard isDirectory(labels) else { throw SegcError(.usage, "SCORES is a folder, so LABELS must be one too", file: labels) }
            let ls = try listDirectory(labels)
            var byStem: [String: String] = [:]
            for l in ls { byStem[Compiler.stem(l)] = "\(labels)/\(l)" }
            return try listDirectory(scores).filter { $0.hasSuffix(".npy") }.map { s throws(SegcError) in
                guard let l = byStem[Compiler.stem(s)] else { throw SegcError(.mismatch, "no label file for this stem", file: "\(scores)/\(s)") }
                return ("\(scores)/\(s)", l)
            }
        }
        return [(scores, labels)]
    }

    func run() throws {
        let files = try pairs()
        let folder = files.count > 1 || isDirectory(scores)
        if iou {
            var acc = try IoUAccumulator(classes: classes, ignoreIndex: ignoreIndex)
            var pixels = 0
            for (s, l) in files {
                let a = try Npy.read(contentsOf: s)
                let (lv, lshape) = try Self.loadLabels(l)
                var pred: [Int32]
                let spatial = a.shape.suffix(2).reduce(1, *)
                if a.shape.count >= 3 && (a.shape.count == 3 || a.shape[0] == 1) && a.shape[a.shape.count - 3] > 1 {
                    let c = a.shape[a.shape.count - 3]
                    (_, pred) = try Scores.compute(nil, logits: a.floats, classes: c, pixels: spatial, argmax: true)
                } else if let ints = a.int64s {
                    pred = ints.map { Int32(clamping: $0) }
                } else {
                    pred = a.floats.map { Int32($0) }
                }
                guard pred.count == lv.count, Array(a.shape.suffix(2)) == Array(lshape.suffix(2)) else {
                    throw SegcError(.mismatch, "shape \(a.shape) does not match the labels' \(lshape)", file: s)
                }
                do { try acc.add(predictions: pred, labels: lv) } catch { throw error.inFile(s) }
                pixels += lv.count
            }
            let r = acc.iou()
            let names = Visualization.cityscapesClassNames
            if global.json {
                var per: [(String, JSON)] = []
                for (i, v) in r.perClass.enumerated() { per.append((i < names.count ? names[i] : "class \(i)", .double(v))) }
                print(JSON.object([("miou", .double(r.mean)), ("iou", .object(per)), ("pixels", .int(pixels))]).text)
            } else {
                print("mIoU \(String(format2: r.mean * 100)) % over \(pixels) pixels")
                for (i, v) in r.perClass.enumerated() { print("  \(i < names.count ? names[i] : "class \(i)"): \(String(format2: v * 100)) %") }
            }
            return
        }
        var acc = AnomalyAccumulator()
        var skipped = 0
        for (s, l) in files {
            let a = try Npy.read(contentsOf: s)
            let (lv, lshape) = try Self.loadLabels(l)
            guard a.count == lv.count else { throw SegcError(.mismatch, "\(a.count) scores for \(lv.count) labels (shape \(a.shape) vs \(lshape))", file: s) }
            if folder && !lv.contains(1) { skipped += 1; continue }
            do {
                if a.dtype == .float64, case .floats = a.storage {
                    try acc.add(scores: a.floats.map(Double.init), labels: lv.map(Int64.init))
                } else {
                    guard a.dtype.isFloat else { throw SegcError(.mismatch, "scores must be float32 or float64", file: s) }
                    try acc.add(scores: a.floats, labels: lv)
                }
            } catch let e as SegcError { throw e.inFile(s) }
        }
        let (auprc, fpr95) = try acc.metrics()
        if global.json {
            print(JSON.object([("auprc", .double(auprc)), ("fpr95", .double(fpr95)), ("positives", .int(acc.positives)),
                               ("negatives", .int(acc.negatives)), ("ignored", .int(acc.ignored)), ("frames", .int(files.count)),
                               ("frames_skipped", .int(skipped))]).text)
        } else {
            print("AuPRC \(String(format2: auprc * 100)) %, FPR95 \(String(format2: fpr95 * 100)) % (\(acc.positives) positive, \(acc.negatives) negative, \(acc.ignored) ignored pixels)")
        }
    }
}
