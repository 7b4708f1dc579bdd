import SegcCore

/// A frame shown in a report: the image with its ground-truth outline and one blended
/// heatmap per score, as PNG bytes (already downscaled for the page).
public struct GalleryFrame: Sendable {
    /// The frame's stem and image path.
    public var stem: String
    public var image: String
    /// The per-frame AuPRC of the ranking score (what made it the worst or best).
    public var auprc: Double
    /// Frame with the anomaly boundary drawn and void darkened.
    public var groundTruthPNG: [UInt8]
    /// (score name, blended heatmap PNG), in the order the scores were given.
    public var overlays: [(score: String, png: [UInt8])]

    public init(stem: String, image: String, auprc: Double, groundTruthPNG: [UInt8], overlays: [(score: String, png: [UInt8])]) {
        self.stem = stem; self.image = image; self.auprc = auprc; self.groundTruthPNG = groundTruthPNG; self.overlays = overlays
    }
}

/// Keeps the worst and best frame of one (network, dataset) pair, ranked by the per-frame
/// AuPRC of the first score, with their panels. Feed it from an ``EvaluationJob/observer``.
///
/// Panels are rendered only when a frame becomes the current worst or best (a few per
/// dataset), so the cost per frame is one per-frame AuPRC (one sort).
public final class FrameGallery: @unchecked Sendable {
    // @unchecked: mutated only under `lock`.
    private let lock = NSLockLike()
    private var worstFrame: GalleryFrame?
    private var bestFrame: GalleryFrame?
    /// Names of the scores shown, and which of the job's score maps they are.
    public let scoreNames: [String]
    public let scoreIndices: [Int]
    /// Thumbnail size (width, height) of every panel.
    public let thumbnail: (width: Int, height: Int)

    /// - Parameters:
    ///   - scoreNames: labels of the scores shown; the first ranks the frames.
    ///   - scoreIndices: the job's score maps they are (default: the first `scoreNames.count`).
    ///   - thumbnailWidth: panel width; height follows the frame's aspect ratio.
    public init(scoreNames: [String], scoreIndices: [Int]? = nil, thumbnailWidth: Int = 384) {
        self.scoreNames = scoreNames
        self.scoreIndices = scoreIndices ?? Array(0..<scoreNames.count)
        self.thumbnail = (thumbnailWidth, thumbnailWidth / 2)
    }

    /// The frame with the lowest / highest per-frame AuPRC seen so far.
    public var worst: GalleryFrame? { lock.withLock { worstFrame } }
    public var best: GalleryFrame? { lock.withLock { bestFrame } }

    /// Considers one evaluated frame (anomaly sets; Cityscapes outcomes are ignored).
    public func add(_ o: FrameOutcome) throws(SegcError) {
        guard let rank = scoreIndices.first, rank < o.scores.count else { return }
        let first = o.scores[rank]
        var acc = AnomalyAccumulator()
        try acc.add(scores: first, labels: o.mask.values)
        // A frame without inlier pixels has no per-frame AuPRC; it cannot be ranked.
        guard acc.positives > 0, acc.negatives > 0 else { return }
        let a = try acc.auprc()
        let (isWorst, isBest) = lock.withLock { (worstFrame.map { a < $0.auprc } ?? true, bestFrame.map { a > $0.auprc } ?? true) }
        guard isWorst || isBest else { return }
        let panel = try render(o, auprc: a)
        lock.withLock {
            if isWorst { worstFrame = panel }
            if isBest { bestFrame = panel }
        }
    }

    private func render(_ o: FrameOutcome, auprc: Double) throws(SegcError) -> GalleryFrame {
        let frame = try Visualization.frame(fromCHW: o.input, width: o.width, height: o.height)
        let th = max(1, thumbnail.width * o.height / max(1, o.width))
        func small(_ img: Image) throws(SegcError) -> [UInt8] {
            try PNGWriter.encode(try img.resized(width: thumbnail.width, height: th, filter: .bilinear))
        }
        // The outline is drawn at full resolution, thick enough to survive the downscale.
        let thickness = max(2, o.width / thumbnail.width + 1)
        let gt = try small(try Visualization.outline(mask: o.mask, on: frame, thickness: thickness))
        var overlays: [(String, [UInt8])] = []
        for (name, k) in zip(scoreNames, scoreIndices) where k < o.scores.count {
            overlays.append((name, try small(try Visualization.overlay(scores: o.scores[k], on: frame))))
        }
        return GalleryFrame(stem: o.frame.stem, image: o.frame.image, auprc: auprc, groundTruthPNG: gt, overlays: overlays)
    }
}
