/// The `(op, opset) → importer` table: every ONNX operator segc imports,
/// one importer per file under `Ops/`.
enum OpTable {
    static let entries: [OpImporter] = [
        ConvImporter.entry, ConvTransposeImporter.entry, BatchNormalizationImporter.entry,
        ReluImporter.entry, PReluImporter.entry, SigmoidImporter.entry,
        AddImporter.entry, SubImporter.entry, MulImporter.entry, DivImporter.entry,
        ConcatImporter.entry, MaxPoolImporter.entry, MaxUnpoolImporter.entry, AveragePoolImporter.entry,
        GlobalAveragePoolImporter.entry, ReduceMeanImporter.entry, ResizeImporter.entry, UpsampleImporter.entry,
        PadImporter.entry, SoftmaxImporter.entry, TransposeImporter.entry, ReshapeImporter.entry,
        FlattenImporter.entry, SqueezeImporter.entry, UnsqueezeImporter.entry, SliceImporter.entry,
        GatherImporter.entry, ShapeImporter.entry, ConstantImporter.entry, ConstantOfShapeImporter.entry,
        ExpandImporter.entry, CastImporter.entry, IdentityImporter.entry, DropoutImporter.entry,
        ScatterNDImporter.entry, ScatterElementsImporter.entry,
        QuantizeLinearImporter.entry, DequantizeLinearImporter.entry,
    ]

    static let table: [String: [OpImporter]] = Dictionary(grouping: entries, by: { $0.op })
}
