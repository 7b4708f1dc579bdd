import SegcEval

/// A score as a table row names it. `calibratedMSP` is MSP at the temperature
/// `calibrate-temperature` finds on Cityscapes (resolved during the run).
enum ScoreSpec: Hashable {
    case msp(Double)
    case calibratedMSP
    case maxLogit
    case maxEntropy
    case void

    var label: String {
        switch self {
        case .msp(let t): return t == 1 ? "MSP" : "MSP (T = \(t))"
        case .calibratedMSP: return "MSP (T calibrated)"
        case .maxLogit: return "MaxLogit"
        case .maxEntropy: return "MaxEntropy"
        case .void: return "Void classifier"
        }
    }
}

/// How a table's model is derived from its checkpoint (Tables 4–5's compressed rows).
enum ModelVariant: String, Hashable {
    case fp32
    /// `segc prune --ratio 0.3 --global --calib CALIB`.
    case pruned
    /// `segc quantize --calib CALIB` (defaults: percentile, mixed precision to 0.98).
    case int8
    /// The pruned plan, then quantized as `int8`.
    case prunedInt8

    /// The derived plan's file name suffix (after the checkpoint's stem), as the commands
    /// write it by default.
    var suffix: String {
        switch self {
        case .fp32: return ""
        case .pruned: return "_pruned"
        case .int8: return ".int8"
        case .prunedInt8: return "_pruned.int8"
        }
    }
}

/// A checkpoint the tables use, found in `--models` by file stem (names as in
/// ../shared/models); a `.segc` of the same stem is preferred, then `.pth`, then `.onnx`.
/// A compressed `variant` is derived from it by `prune` / `quantize` (plans written to
/// the output folder and reused by the next run).
struct ModelRef: Hashable {
    let stem: String
    let name: String
    var variant: ModelVariant = .fp32

    /// Results key and the derived plan's file stem.
    var key: String { stem + variant.suffix }

    func with(_ v: ModelVariant, name: String) -> ModelRef { ModelRef(stem: stem, name: name, variant: v) }
}

enum RowSource {
    case measured(ModelRef, ScoreSpec)
    /// A row the paper has that this segc cannot produce yet (never faked).
    case missing(String)
}

struct TableRow {
    let label: String
    let source: RowSource
}

/// One of the paper's tables: accuracy tables share the column layout (Cityscapes mIoU,
/// then AuPRC and FPR95 per anomaly set); Table 5 is speed and size.
struct TableSpec {
    let id: Int
    let title: String
    let rows: [TableRow]
    var isSpeed: Bool { id == 5 }
}

/// The datasets in the paper's column order: folder names as in ../shared/data.
struct DatasetColumn {
    let folders: [String]
    let title: String
    let kind: DatasetKind
}

enum PaperLayout {
    static let erfnet = ModelRef(stem: "erfnet_cityscapes", name: "ERFNet")
    static let enet = ModelRef(stem: "enet_cityscapes", name: "ENet")
    static let enetVoid = ModelRef(stem: "enet_void", name: "ENet (void-trained)")
    static let midenet = ModelRef(stem: "midenet_distilled", name: "MiDE-Net (distilled from ENet)")
    static let bisenet = ModelRef(stem: "bisenetv1_calibrated_random", name: "BiSeNetV1 (random weights)")

    static let erfnetPruned = erfnet.with(.pruned, name: "ERFNet pruned (30 %, global, least-squares recovery)")
    static let erfnetInt8 = erfnet.with(.int8, name: "ERFNet int8")
    static let erfnetPrunedInt8 = erfnet.with(.prunedInt8, name: "ERFNet pruned + int8")
    /// Not a row of the paper: the smallest network quantized too (and the variant row the
    /// suite can afford to check end to end).
    static let midenetInt8 = midenet.with(.int8, name: "MiDE-Net int8")

    static let temperatures = [0.5, 0.75, 1.1, 2.15]
    /// Calibration images of the compressed variants, inside `--data` (the issues' choice).
    static let calibrationFolder = "fs_static/images"
    static let pruneRatio = 0.3

    static let cityscapes = DatasetColumn(folders: ["cityscapes"], title: "Cityscapes", kind: .cityscapes)
    static let anomalySets = [
        DatasetColumn(folders: ["RoadAnomaly21"], title: "SMIYC RA-21", kind: .roadanomaly21),
        DatasetColumn(folders: ["RoadObsticle21", "RoadObstacle21"], title: "SMIYC RO-21", kind: .roadobstacle21),
        DatasetColumn(folders: ["FS_LostFound_full"], title: "FS L&F", kind: .fs_lostfound),
        DatasetColumn(folders: ["fs_static"], title: "FS Static", kind: .fs_static),
        DatasetColumn(folders: ["RoadAnomaly"], title: "Road Anomaly", kind: .roadanomaly),
    ]

    static let tables: [TableSpec] = [
        TableSpec(id: 1, title: "Table 1: baseline anomaly scores (ERFNet)", rows: [
            TableRow(label: "ERFNet MSP", source: .measured(erfnet, .msp(1))),
            TableRow(label: "ERFNet MaxLogit", source: .measured(erfnet, .maxLogit)),
            TableRow(label: "ERFNet MaxEntropy", source: .measured(erfnet, .maxEntropy)),
        ]),
        TableSpec(id: 2, title: "Table 2: MSP with temperature scaling (ERFNet)",
                  rows: temperatures.map { TableRow(label: "ERFNet MSP, T = \($0)", source: .measured(erfnet, .msp($0))) }
                      + [TableRow(label: "ERFNet MSP, T calibrated", source: .measured(erfnet, .calibratedMSP))]),
        TableSpec(id: 3, title: "Table 3: void classifier", rows: [
            TableRow(label: "ENet void classifier", source: .measured(enetVoid, .void)),
            TableRow(label: "ERFNet void classifier", source: .measured(erfnet, .void)),
            TableRow(label: "BiSeNetV1 void classifier",
                     source: .missing("no void-trained BiSeNetV1 (the shared BiSeNetV1 has 19 classes and random weights)")),
        ]),
        TableSpec(id: 4, title: "Table 4: compressed networks (MSP)", rows: [
            TableRow(label: "ERFNet fp32", source: .measured(erfnet, .msp(1))),
            TableRow(label: "ERFNet pruned", source: .measured(erfnetPruned, .msp(1))),
            TableRow(label: "ERFNet int8", source: .measured(erfnetInt8, .msp(1))),
            TableRow(label: "ERFNet pruned + int8", source: .measured(erfnetPrunedInt8, .msp(1))),
            TableRow(label: "ENet fp32", source: .measured(enet, .msp(1))),
            TableRow(label: "MiDE-Net (distilled from ENet)", source: .measured(midenet, .msp(1))),
            TableRow(label: "MiDE-Net int8", source: .measured(midenetInt8, .msp(1))),
        ]),
        TableSpec(id: 5, title: "Table 5: speed and size at 512x1024 (this machine)", rows: [
            TableRow(label: "ERFNet fp32", source: .measured(erfnet, .msp(1))),
            TableRow(label: "ERFNet pruned", source: .measured(erfnetPruned, .msp(1))),
            TableRow(label: "ERFNet int8", source: .measured(erfnetInt8, .msp(1))),
            TableRow(label: "ERFNet pruned + int8", source: .measured(erfnetPrunedInt8, .msp(1))),
            TableRow(label: "ENet fp32", source: .measured(enet, .msp(1))),
            TableRow(label: "MiDE-Net (distilled)", source: .measured(midenet, .msp(1))),
            TableRow(label: "MiDE-Net int8", source: .measured(midenetInt8, .msp(1))),
            TableRow(label: "BiSeNetV1 (random weights)", source: .measured(bisenet, .msp(1))),
        ]),
    ]
}
