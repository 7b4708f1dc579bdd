import SegcCore
import SegcEval
import SegcPlan

/// The calibration images of `quantize` and `prune --calib` (product.md §3.5): DIR is
/// searched recursively for PNG/JPEG/WebP files; a dataset of §3.7 gives only its input
/// images; folders named `gtFine`, `gtCoarse` and `labels_masks` are skipped. Files are
/// sorted by path and, beyond `count`, taken evenly spaced.
struct CalibrationImages {
    let files: [String]
    let shape: [Int]
    let metadata: PlanMetadata

    static let skippedFolders: Set<String> = ["gtFine", "gtCoarse", "labels_masks"]

    init(_ dir: String, count: Int, plan: PlanFile) throws {
        guard isDirectory(dir) else { throw SegcError(.io, "not a folder", file: dir) }
        var found: [String] = []
        let kind = DatasetKind.detect(directory: dir)
        if kind != .generic, let ds = try? Dataset(directory: dir, kind: kind) {
            found = ds.frames.map(\.image)
        } else {
            func walk(_ d: String) throws(SegcError) {
                for name in try listDirectory(d) {
                    let path = d.hasSuffix("/") ? d + name : "\(d)/\(name)"
                    if isDirectory(path) {
                        if !Self.skippedFolders.contains(name) { try walk(path) }
                    } else if Image.hasImageExtension(name) {
                        found.append(path)
                    }
                }
            }
            try walk(dir)
        }
        found.sort()
        if found.isEmpty { throw SegcError(.io, "no PNG, JPEG or WebP images in the folder", file: dir) }
        let shape = plan.graph.values[plan.graph.input].shape
        guard shape.count == 4, shape[1] == 3 || shape[1] == 1 else {
            throw SegcError(.unsupported, "calibration feeds images; the plan's input \(shape) takes neither RGB nor grey", file: dir)
        }
        let n = min(count, found.count)
        files = (0..<n).map { found[$0 * found.count / n] }
        self.shape = shape
        metadata = plan.metadata
    }

    /// Image `i`, preprocessed as the plan says (resized to the plan's input size).
    func input(_ i: Int) throws -> [Float] {
        var v = try Image.networkInput(contentsOf: files[i], channels: shape[1], width: shape[3], height: shape[2])
        metadata.normalise(&v)
        return v
    }
}
