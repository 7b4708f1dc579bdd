import CSegcKernels
import CSegcImageIO
import SegcCore

/// PNG writing (libpng), always atomic: a failed write leaves no file and never modifies
/// an existing one.
public enum PNGWriter {
    /// Encodes `image` as an 8-bit PNG: RGB (3 channels), grey (1 channel), or palette
    /// (1 channel with `palette`).
    public static func encode(_ image: Image) throws(SegcError) -> [UInt8] {
        guard image.channels == 3 || image.channels == 1 else {
            throw SegcError(.unsupported, "PNG output needs an RGB, grey or palette image (found \(image.channels) channels)")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let rc: Int32 = image.pixels.withUnsafeBufferPointer { px in
            message.withUnsafeMutableBufferPointer { msg in
                if let palette = image.palette, !palette.isEmpty {
                    return palette.withUnsafeBufferPointer { pal in
                        segc_png_encode(px.baseAddress, Int32(image.width), Int32(image.height), Int32(image.channels),
                                        pal.baseAddress, Int32(palette.count / 3), &out, &size, msg.baseAddress, 256)
                    }
                }
                return segc_png_encode(px.baseAddress, Int32(image.width), Int32(image.height), Int32(image.channels),
                                       nil, 0, &out, &size, msg.baseAddress, 256)
            }
        }
        defer { segc_image_free(out) }
        guard rc == 0, let out else {
            let text = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw SegcError(.io, "PNG encoding failed: \(text)")
        }
        return [UInt8](UnsafeBufferPointer(start: out, count: size))
    }

    /// Encodes and writes `image` to `path` atomically.
    public static func write(_ image: Image, to path: String) throws(SegcError) {
        let bytes: [UInt8]
        do { bytes = try encode(image) } catch { throw error.inFile(path) }
        try AtomicFile.write(path, bytes: bytes)
    }
}

/// Visualisations of network outputs (product.md §3.3 `--heatmap`, `--segmentation`).
public enum Visualization {
    /// The 19 Cityscapes train ids' colours (road … bicycle), RGB.
    public static let cityscapesColors: [(UInt8, UInt8, UInt8)] = [
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
        (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
        (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ]

    /// The Cityscapes train-id names, index = train id.
    public static let cityscapesClassNames: [String] = [
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
        "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
    ]

    /// A palette image of class ids in Cityscapes train-id colours; classes ≥ 19 (and
    /// negative ids) are black.
    public static func segmentation(classes: [Int32], width: Int, height: Int) throws(SegcError) -> Image {
        guard classes.count == width * height else {
            throw SegcError(.mismatch, "\(classes.count) class ids for a \(width)x\(height) image")
        }
        var palette = [UInt8](repeating: 0, count: 20 * 3)
        for (i, c) in cityscapesColors.enumerated() {
            palette[3 * i] = c.0; palette[3 * i + 1] = c.1; palette[3 * i + 2] = c.2
        }
        let pixels = classes.map { $0 >= 0 && $0 < 19 ? UInt8($0) : 19 }
        return try Image(width: width, height: height, channels: 1, pixels: pixels, palette: palette)
    }

    /// The score map normalised by its own minimum and maximum (finite values; a constant
    /// map is all 0) and coloured with matplotlib's `inferno` (`cmap(x, bytes=True)`:
    /// index `min(Int(x * 256), 255)`), as an RGB image.
    public static func heatmap(scores: [Float], width: Int, height: Int) throws(SegcError) -> Image {
        guard scores.count == width * height else {
            throw SegcError(.mismatch, "\(scores.count) scores for a \(width)x\(height) image")
        }
        var lo = Float.infinity, hi = -Float.infinity
        for s in scores where s.isFinite { lo = min(lo, s); hi = max(hi, s) }
        let range = hi - lo
        var pixels = [UInt8](repeating: 0, count: scores.count * 3)
        for (i, s) in scores.enumerated() {
            var x: Float = 0
            if s.isFinite && range > 0 { x = (s - lo) / range }
            let idx = max(0, min(255, Int(x * 256)))
            pixels[3 * i] = inferno[3 * idx]
            pixels[3 * i + 1] = inferno[3 * idx + 1]
            pixels[3 * i + 2] = inferno[3 * idx + 2]
        }
        return try Image(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// matplotlib's `inferno` colormap, 256 RGB entries, `(lut * 255).astype(uint8)`.
    public static let inferno: [UInt8] = [
        0, 0, 3, 0, 0, 4, 0, 0, 6, 1, 0, 7, 1, 1, 9, 1, 1, 11, 2, 1, 14, 2, 2, 16,
        3, 2, 18, 4, 3, 20, 4, 3, 22, 5, 4, 24, 6, 4, 27, 7, 5, 29, 8, 6, 31, 9, 6, 33,
        10, 7, 35, 11, 7, 38, 13, 8, 40, 14, 8, 42, 15, 9, 45, 16, 9, 47, 18, 10, 50, 19, 10, 52,
        20, 11, 54, 22, 11, 57, 23, 11, 59, 25, 11, 62, 26, 11, 64, 28, 12, 67, 29, 12, 69, 31, 12, 71,
        32, 12, 74, 34, 11, 76, 36, 11, 78, 38, 11, 80, 39, 11, 82, 41, 11, 84, 43, 10, 86, 45, 10, 88,
        46, 10, 90, 48, 10, 92, 50, 9, 93, 52, 9, 95, 53, 9, 96, 55, 9, 97, 57, 9, 98, 59, 9, 100,
        60, 9, 101, 62, 9, 102, 64, 9, 102, 65, 9, 103, 67, 10, 104, 69, 10, 105, 70, 10, 105, 72, 11, 106,
        74, 11, 106, 75, 12, 107, 77, 12, 107, 79, 13, 108, 80, 13, 108, 82, 14, 108, 83, 14, 109, 85, 15, 109,
        87, 15, 109, 88, 16, 109, 90, 17, 109, 91, 17, 110, 93, 18, 110, 95, 18, 110, 96, 19, 110, 98, 20, 110,
        99, 20, 110, 101, 21, 110, 102, 21, 110, 104, 22, 110, 106, 23, 110, 107, 23, 110, 109, 24, 110, 110, 24, 110,
        112, 25, 110, 114, 25, 109, 115, 26, 109, 117, 27, 109, 118, 27, 109, 120, 28, 109, 122, 28, 109, 123, 29, 108,
        125, 29, 108, 126, 30, 108, 128, 31, 107, 129, 31, 107, 131, 32, 107, 133, 32, 106, 134, 33, 106, 136, 33, 106,
        137, 34, 105, 139, 34, 105, 141, 35, 105, 142, 36, 104, 144, 36, 104, 145, 37, 103, 147, 37, 103, 149, 38, 102,
        150, 38, 102, 152, 39, 101, 153, 40, 100, 155, 40, 100, 156, 41, 99, 158, 41, 99, 160, 42, 98, 161, 43, 97,
        163, 43, 97, 164, 44, 96, 166, 44, 95, 167, 45, 95, 169, 46, 94, 171, 46, 93, 172, 47, 92, 174, 48, 91,
        175, 49, 91, 177, 49, 90, 178, 50, 89, 180, 51, 88, 181, 51, 87, 183, 52, 86, 184, 53, 86, 186, 54, 85,
        187, 55, 84, 189, 55, 83, 190, 56, 82, 191, 57, 81, 193, 58, 80, 194, 59, 79, 196, 60, 78, 197, 61, 77,
        199, 62, 76, 200, 62, 75, 201, 63, 74, 203, 64, 73, 204, 65, 72, 205, 66, 71, 207, 68, 70, 208, 69, 68,
        209, 70, 67, 210, 71, 66, 212, 72, 65, 213, 73, 64, 214, 74, 63, 215, 75, 62, 217, 77, 61, 218, 78, 59,
        219, 79, 58, 220, 80, 57, 221, 82, 56, 222, 83, 55, 223, 84, 54, 224, 86, 52, 226, 87, 51, 227, 88, 50,
        228, 90, 49, 229, 91, 48, 230, 92, 46, 230, 94, 45, 231, 95, 44, 232, 97, 43, 233, 98, 42, 234, 100, 40,
        235, 101, 39, 236, 103, 38, 237, 104, 37, 237, 106, 35, 238, 108, 34, 239, 109, 33, 240, 111, 31, 240, 112, 30,
        241, 114, 29, 242, 116, 28, 242, 117, 26, 243, 119, 25, 243, 121, 24, 244, 122, 22, 245, 124, 21, 245, 126, 20,
        246, 128, 18, 246, 129, 17, 247, 131, 16, 247, 133, 14, 248, 135, 13, 248, 136, 12, 248, 138, 11, 249, 140, 9,
        249, 142, 8, 249, 144, 8, 250, 145, 7, 250, 147, 6, 250, 149, 6, 250, 151, 6, 251, 153, 6, 251, 155, 6,
        251, 157, 6, 251, 158, 7, 251, 160, 7, 251, 162, 8, 251, 164, 10, 251, 166, 11, 251, 168, 13, 251, 170, 14,
        251, 172, 16, 251, 174, 18, 251, 176, 20, 251, 177, 22, 251, 179, 24, 251, 181, 26, 251, 183, 28, 251, 185, 30,
        250, 187, 33, 250, 189, 35, 250, 191, 37, 250, 193, 40, 249, 195, 42, 249, 197, 44, 249, 199, 47, 248, 201, 49,
        248, 203, 52, 248, 205, 55, 247, 207, 58, 247, 209, 60, 246, 211, 63, 246, 213, 66, 245, 215, 69, 245, 217, 72,
        244, 219, 75, 244, 220, 79, 243, 222, 82, 243, 224, 86, 243, 226, 89, 242, 228, 93, 242, 230, 96, 241, 232, 100,
        241, 233, 104, 241, 235, 108, 241, 237, 112, 241, 238, 116, 241, 240, 121, 241, 242, 125, 242, 243, 129, 242, 244, 133,
        243, 246, 137, 244, 247, 141, 245, 248, 145, 246, 250, 149, 247, 251, 153, 249, 252, 157, 250, 253, 160, 252, 254, 164,
    ]
}
