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

/// A checkpoint the tables use, found in `--models` by file stem (names as in
/// ../shared/models); a `.segc` of the same stem is preferred, then `.pth`, then `.onnx`.
struct ModelRef: Hashable {
    let stem: String
    let name: String
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

    static let temperatures = [0.5, 0.75, 1.1, 2.15]
    // The commands exist; reproduce does not run them yet. The figures come from
    // `segc prune … --global --calib …` / `segc quantize … --calib …` then `segc eval`
    // (Docs/Notes.md has them).
    static let quantizeMissing = "not run by reproduce yet: `segc quantize PLAN --calib DIR`, then `segc eval`"
    static let pruneMissing = "not run by reproduce yet: `segc prune PLAN --ratio 0.3 --global --calib DIR`, then `segc eval`"

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
            TableRow(label: "ERFNet pruned", source: .missing(pruneMissing)),
            TableRow(label: "ERFNet int8", source: .missing(quantizeMissing)),
            TableRow(label: "ERFNet pruned + int8", source: .missing(pruneMissing + "; " + quantizeMissing)),
            TableRow(label: "ENet fp32", source: .measured(enet, .msp(1))),
            TableRow(label: "MiDE-Net (distilled from ENet)", source: .measured(midenet, .msp(1))),
        ]),
        TableSpec(id: 5, title: "Table 5: speed and size at 512x1024 (this machine)", rows: [
            TableRow(label: "ERFNet fp32", source: .measured(erfnet, .msp(1))),
            TableRow(label: "ERFNet pruned", source: .missing(pruneMissing)),
            TableRow(label: "ERFNet int8", source: .missing(quantizeMissing)),
            TableRow(label: "ERFNet pruned + int8", source: .missing(pruneMissing + "; " + quantizeMissing)),
            TableRow(label: "ENet fp32", source: .measured(enet, .msp(1))),
            TableRow(label: "MiDE-Net (distilled)", source: .measured(midenet, .msp(1))),
            TableRow(label: "BiSeNetV1 (random weights)", source: .measured(bisenet, .msp(1))),
        ]),
    ]
}
