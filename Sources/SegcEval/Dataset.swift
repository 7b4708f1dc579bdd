#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore

/// The dataset layouts of product.md §3.7.
public enum DatasetKind: String, CaseIterable, Sendable {
    /// `leftImg8bit/<split>/<city>/*_leftImg8bit.png` + `gtFine/<split>/<city>/*_gtFine_labelTrainIds.png`.
    case cityscapes
    /// `RoadAnomaly21`: `images/*.png` (JPEG content), labels 0/1/255.
    case roadanomaly21
    /// `RoadObsticle21` (or `RoadObstacle21`): `images/*.webp`.
    case roadobstacle21
    /// `FS_LostFound_full`: `images/*.png`.
    case fs_lostfound
    /// `fs_static`: `images/*.jpg`.
    case fs_static
    /// `RoadAnomaly`: `images/*.jpg`, labels 0/2 (2 → 1).
    case roadanomaly
    /// Any folder with `images/*.{png,jpg,jpeg,webp}` and `labels_masks/<stem>.png`.
    case generic

    /// True for the anomaly kinds (AuPRC/FPR95), false for Cityscapes (mIoU).
    public var isAnomaly: Bool { self != .cityscapes }

    /// The kind a folder's name (or, for Cityscapes, its structure) announces.
    public static func detect(directory: String) -> DatasetKind {
        if isDirectory(directory + "/leftImg8bit") && isDirectory(directory + "/gtFine") { return .cityscapes }
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let name = trimmed.split(separator: "/").last.map(String.init) ?? trimmed
        switch name {
        case "RoadAnomaly21": return .roadanomaly21
        case "RoadObsticle21", "RoadObstacle21": return .roadobstacle21
        case "FS_LostFound_full": return .fs_lostfound
        case "fs_static": return .fs_static
        case "RoadAnomaly": return .roadanomaly
        default: return .generic
        }
    }

    var imageExtensions: [String] {
        switch self {
        case .cityscapes, .roadanomaly21, .fs_lostfound: return ["png"]
        case .roadobstacle21: return ["webp"]
        case .fs_static, .roadanomaly: return ["jpg"]
        case .generic: return Image.fileExtensions
        }
    }
}

/// One image and its ground-truth label file.
public struct DatasetFrame: Sendable, Equatable {
    /// Path of the image.
    public let image: String
    /// Path of the label mask.
    public let label: String
    /// The image's stem (output files are named after it).
    public let stem: String
}

/// An enumerated evaluation dataset (product.md §3.7).
public struct Dataset: Sendable {
    /// The folder given.
    public let root: String
    /// Its kind (detected or given).
    public let kind: DatasetKind
    /// Frames in sorted order.
    public let frames: [DatasetFrame]
    /// Label rewrites applied after the NEAREST resize: RoadAnomaly's 2 → 1 for every path
    /// containing `RoadAnomaly` (as the reference code does). Cityscapes' 255 → 19 is
    /// applied by `IoUAccumulator`.
    public let labelMapping: [(from: UInt8, to: UInt8)]

    /// Enumerates `directory` as `kind` (detected when nil). `split` is used by Cityscapes.
    /// - Throws: `SegcError` when the folder has no images, or an image has no label file
    ///   (the error names the image).
    public init(directory: String, kind: DatasetKind? = nil, split: String = "val") throws(SegcError) {
        let kind = kind ?? DatasetKind.detect(directory: directory)
        self.root = directory
        self.kind = kind
        var frames: [DatasetFrame] = []
        if kind == .cityscapes {
            let imgRoot = directory + "/leftImg8bit/" + split
            guard isDirectory(imgRoot) else {
                throw SegcError(.io, "no leftImg8bit/\(split) folder", file: directory)
            }
            for city in try listDirectory(imgRoot) where isDirectory(imgRoot + "/" + city) {
                for name in try listDirectory(imgRoot + "/" + city) where name.hasSuffix("_leftImg8bit.png") {
                    let stem = String(name.dropLast("_leftImg8bit.png".count))
                    let label = directory + "/gtFine/" + split + "/" + city + "/" + stem + "_gtFine_labelTrainIds.png"
                    let image = imgRoot + "/" + city + "/" + name
                    guard fileExists(label) else {
                        throw SegcError(.io, "no label file \(label)", file: image)
                    }
                    frames.append(DatasetFrame(image: image, label: label, stem: stem))
                }
            }
        } else {
            let imgDir = directory + "/images"
            guard isDirectory(imgDir) else { throw SegcError(.io, "no images/ folder", file: directory) }
            let exts = kind.imageExtensions
            for name in try listDirectory(imgDir) {
                guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { continue }
                let ext = name[name.index(after: dot)...].lowercased()
                guard exts.contains(ext) else { continue }
                let stem = String(name[..<dot])
                let image = imgDir + "/" + name
                let label = directory + "/labels_masks/" + stem + ".png"
                guard fileExists(label) else { throw SegcError(.io, "no label file \(label)", file: image) }
                frames.append(DatasetFrame(image: image, label: label, stem: stem))
            }
        }
        guard !frames.isEmpty else { throw SegcError(.io, "no images found for kind \(kind.rawValue)", file: directory) }
        self.frames = frames
        let roadAnomaly = directory.contains("RoadAnomaly") || kind == .roadanomaly || kind == .roadanomaly21
        self.labelMapping = roadAnomaly && kind.isAnomaly ? [(from: 2, to: 1)] : []
    }

    /// Loads a frame's label: decoded (grey values or palette indices), Pillow-NEAREST
    /// resized to `width`×`height`, then `labelMapping` applied.
    public func loadLabel(_ frame: DatasetFrame, width: Int, height: Int) throws(SegcError) -> LabelMask {
        var mask = try LabelMask.decode(contentsOf: frame.label)
        if mask.width != width || mask.height != height {
            do { mask = try mask.resizedNearest(width: width, height: height) } catch { throw error.inFile(frame.label) }
        }
        for m in labelMapping { mask.map(m.from, to: m.to) }
        return mask
    }
}

/// True when `path` is a directory (shared with the CLI).
package func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// True when `path` exists and is not a directory.
package func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR
}

/// Entry names of a directory (no "." / ".."), sorted by their UTF-8 bytes.
package func listDirectory(_ path: String) throws(SegcError) -> [String] {
    guard let dir = opendir(path) else {
        throw SegcError(.io, "cannot list: \(String(cString: strerror(errno)))", file: path)
    }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { p in
            p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name == "." || name == ".." || name.hasPrefix(".") { continue }
        names.append(name)
    }
    return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
}

/// Creates `path` and any missing parents (like `mkdir -p`).
package func makeDirectories(_ path: String) throws(SegcError) {
    if isDirectory(path) { return }
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if isDirectory(current) { continue }
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw SegcError(.io, "cannot create directory: \(String(cString: strerror(errno)))", file: current)
        }
    }
}
