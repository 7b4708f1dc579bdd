/// Every limit of product.md §2.8, as named constants. Exceeding one is a
/// `SegcError(.limit, …)` naming the limit and the value found.
public enum Limits {
    /// Any single allocation whose size comes from input.
    public static let maxAllocationBytes = 4 << 30
    public static let maxTensorRank = 8
    public static let maxDimension = Int(Int32.max)
    public static let maxTensorElements = 1 << 32
    /// `data.pkl` or the legacy object pickle.
    public static let maxPickleBytes = 256 << 20
    public static let maxPickleStack = 1_000_000
    public static let maxPickleMarkDepth = 1_024
    public static let maxPickleMemo = 1_000_000
    public static let maxPickleNesting = 256
    public static let maxPickleObjects = 10_000_000
    public static let maxZipEntries = 100_000
    public static let maxZipEntryBytes = 4 << 30
    public static let maxZipTotalBytes = 16 << 30
    public static let maxZipCompressionRatio = 200
    public static let maxLegacyStorages = 1_000_000
    public static let maxProtobufDepth = 32
    public static let maxOnnxNodes = 100_000
    public static let maxOnnxFileBytes = 2 << 30
    public static let maxImagePixels = 1 << 28
    public static let maxImageSide = 16_384
    public static let maxNpyHeaderBytes = 64 << 10
    public static let maxPlanSections = 256
    public static let maxPlanMetadataBytes = 1 << 20
    /// Values, and ops, of one plan graph: twice ONNX's node limit. Reading is linear, but
    /// the float twin's arena placement (first fit) is quadratic in the values.
    public static let maxPlanValues = 200_000
    public static let maxPlanOps = 200_000

    /// Throws `.limit` when `value > limit`.
    @inlinable
    public static func check(_ value: Int, _ limit: Int, _ what: String) throws(SegcError) {
        if value > limit {
            throw SegcError(.limit, "\(what) \(value) exceeds the limit of \(limit)")
        }
    }
}
