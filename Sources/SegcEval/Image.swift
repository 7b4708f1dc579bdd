import CJPEG
import CPNG
import CSegcKernels
import CSegcImageIO
import CWebP
import SegcCore

/// An 8-bit image with interleaved samples, decoded the way Pillow decodes it.
///
/// `channels` is 1 (grey, or palette indices when `palette` is set), 2 (grey + alpha),
/// 3 (RGB) or 4 (RGBA). Pixels are row-major, `width * height * channels` bytes.
public struct Image: Sendable, Equatable {
    /// The container formats segc recognises by content.
    public enum Format: String, Sendable {
        case png, jpeg, webp
    }

    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Samples per pixel (1–4).
    public let channels: Int
    /// Row-major interleaved samples.
    public var pixels: [UInt8]
    /// For palette images: the palette as RGB triples (`pixels` are indices into it).
    public var palette: [UInt8]?

    /// Wraps existing pixels; checks the sample count and the image limits.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8], palette: [UInt8]? = nil) throws(SegcError) {
        try Image.checkSize(width: width, height: height, file: nil)
        guard (1...4).contains(channels) else { throw SegcError(.unsupported, "\(channels) channels per pixel") }
        guard pixels.count == width * height * channels else {
            throw SegcError(.mismatch, "\(pixels.count) samples for a \(width)x\(height)x\(channels) image")
        }
        if let palette, palette.count % 3 != 0 || palette.count > 768 || channels != 1 {
            throw SegcError(.malformed, "a palette needs 1 channel and at most 256 RGB entries")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.palette = palette
    }

    init(unchecked width: Int, _ height: Int, _ channels: Int, _ pixels: [UInt8], _ palette: [UInt8]? = nil) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.palette = palette
    }

    static func checkSize(width: Int, height: Int, file: String?) throws(SegcError) {
        if width < 1 || height < 1 {
            throw SegcError(.malformed, "image size \(width)x\(height) is empty", file: file)
        }
        if width > Limits.maxImageSide || height > Limits.maxImageSide {
            throw SegcError(.limit, "image side \(max(width, height)) exceeds the limit of \(Limits.maxImageSide)", file: file)
        }
        if width * height > Limits.maxImagePixels {
            throw SegcError(.limit, "image pixels \(width * height) exceed the limit of \(Limits.maxImagePixels)", file: file)
        }
    }

    /// File name extensions of the decodable formats, lower case, without the dot: how
    /// folders of frames (datasets, `stream`, calibration) pick their images.
    package static let fileExtensions = ["png", "jpg", "jpeg", "webp"]

    /// Whether `name` ends with one of ``fileExtensions`` (any case).
    package static func hasImageExtension(_ name: String) -> Bool {
        let lower = name.lowercased()
        return fileExtensions.contains { lower.hasSuffix("." + $0) }
    }

    /// The format the leading bytes announce (PNG signature, JPEG SOI `FF D8 FF`,
    /// `RIFF....WEBP`), or nil. File extensions are never consulted.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> Format? {
        let b = Array(bytes.prefix(12))
        if b.count >= 8, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if b.count >= 3, b[0] == 0xFF, b[1] == 0xD8, b[2] == 0xFF { return .jpeg }
        if b.count >= 12, b[0..<4] == [0x52, 0x49, 0x46, 0x46], b[8..<12] == [0x57, 0x45, 0x42, 0x50] { return .webp }
        return nil
    }

    /// Decodes a PNG, JPEG or WebP file, recognised by content.
    ///
    /// PNG: 8-bit grey, grey+alpha, palette (indices kept, palette in `palette`), RGB, RGBA;
    /// 16-bit samples reduced as Pillow does. JPEG: libjpeg-turbo with Pillow's defaults
    /// (islow DCT, fancy upsampling, no scaling), grey or RGB. WebP: RGB, or RGBA when the
    /// file has alpha. EXIF orientation is ignored, as Pillow's `open` does.
    /// - Throws: `SegcError` naming `path` for unreadable, unknown, corrupt or truncated
    ///   files and for images beyond `Limits.maxImageSide` / `Limits.maxImagePixels`
    ///   (checked before the pixel buffer is allocated).
    public static func decode(contentsOf path: String) throws(SegcError) -> Image {
        let file = try FileBytes(contentsOf: path)
        return try decode(bytes: file.buffer, name: path)
    }

    /// Decodes image bytes held in memory; `name` is used in error messages.
    public static func decode(bytes: UnsafeRawBufferPointer, name: String) throws(SegcError) -> Image {
        guard let format = sniff(bytes), let base = bytes.baseAddress else {
            throw SegcError(.unsupported, "not a PNG, JPEG or WebP image (unrecognised leading bytes)", file: name)
        }
        let data = base.assumingMemoryBound(to: UInt8.self)
        switch format {
        case .png, .jpeg:
            var info = segc_image_info()
            var out: UnsafeMutablePointer<UInt8>? = nil
            let rc: Int32
            if format == .png {
                rc = segc_png_decode(data, bytes.count, Int64(Limits.maxImageSide), Int64(Limits.maxImagePixels), &info, &out)
            } else {
                rc = segc_jpeg_decode(data, bytes.count, Int64(Limits.maxImageSide), Int64(Limits.maxImagePixels), &info, &out)
            }
            defer { segc_image_free(out) }
            let message = withUnsafeBytes(of: info.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let what = format == .png ? "PNG" : "JPEG"
            switch Int(rc) {
            case SEGC_IO_OK: break
            case SEGC_IO_ELIMIT: throw SegcError(.limit, "\(what): \(message)", file: name)
            case SEGC_IO_EUNSUPPORTED: throw SegcError(.unsupported, "\(what): \(message)", file: name)
            case SEGC_IO_ENOMEM: throw SegcError(.limit, "\(what): out of memory", file: name)
            default: throw SegcError(.malformed, "\(what): \(message.isEmpty ? "corrupt image" : message)", file: name)
            }
            let w = Int(info.width), h = Int(info.height), c = Int(info.channels)
            try checkSize(width: w, height: h, file: name)
            guard let out, (1...4).contains(c) else { throw SegcError(.malformed, "\(what): no pixels", file: name) }
            let n = w * h * c
            let pixels = [UInt8](UnsafeBufferPointer(start: out, count: n))
            var palette: [UInt8]? = nil
            if info.is_palette != 0 {
                let count = Int(info.palette_count)
                palette = withUnsafeBytes(of: info.palette) { Array($0.prefix(3 * count)) }
            }
            return Image(unchecked: w, h, c, pixels, palette)
        case .webp:
            return try decodeWebP(data, bytes.count, name: name)
        }
    }

    private static func decodeWebP(_ data: UnsafePointer<UInt8>, _ size: Int, name: String) throws(SegcError) -> Image {
        var features = WebPBitstreamFeatures()
        let status = WebPGetFeatures(data, size, &features)
        guard status == VP8_STATUS_OK else {
            throw SegcError(.malformed, "WebP: cannot read the header (status \(status.rawValue))", file: name)
        }
        if features.has_animation != 0 {
            throw SegcError(.unsupported, "WebP: animated images are not supported", file: name)
        }
        let w = Int(features.width), h = Int(features.height)
        try checkSize(width: w, height: h, file: name)
        let c = features.has_alpha != 0 ? 4 : 3
        let n = w * h * c
        var failed = false
        let pixels = [UInt8](unsafeUninitializedCapacity: n) { buf, count in
            guard let out = buf.baseAddress else { failed = true; count = 0; return }
            let r: UnsafeMutablePointer<UInt8>?
            if c == 4 {
                r = WebPDecodeRGBAInto(data, size, out, n, Int32(w * 4))
            } else {
                r = WebPDecodeRGBInto(data, size, out, n, Int32(w * 3))
            }
            if r == nil {
                failed = true
                buf.initialize(repeating: 0)
            }
            count = n
        }
        if failed { throw SegcError(.malformed, "WebP: corrupt or truncated image", file: name) }
        return Image(unchecked: w, h, c, pixels)
    }

    /// Pillow `convert('RGB')`: grey is replicated, palette indices are looked up
    /// (missing entries are a grey ramp, like Pillow's initial palette), alpha is dropped.
    public func convertedToRGB() -> Image {
        if channels == 3 && palette == nil { return self }
        let n = width * height
        var out = [UInt8](repeating: 0, count: n * 3)
        out.withUnsafeMutableBufferPointer { o in
            pixels.withUnsafeBufferPointer { p in
                if let palette {
                    var table = [UInt8](repeating: 0, count: 768)
                    for i in 0..<256 { table[3 * i] = UInt8(i); table[3 * i + 1] = UInt8(i); table[3 * i + 2] = UInt8(i) }
                    for i in 0..<min(palette.count, 768) { table[i] = palette[i] }
                    for i in 0..<n {
                        let v = Int(p[i]) * 3
                        o[3 * i] = table[v]; o[3 * i + 1] = table[v + 1]; o[3 * i + 2] = table[v + 2]
                    }
                } else {
                    switch channels {
                    case 1, 2:
                        for i in 0..<n { let g = p[i * channels]; o[3 * i] = g; o[3 * i + 1] = g; o[3 * i + 2] = g }
                    case 4:
                        for i in 0..<n { o[3 * i] = p[4 * i]; o[3 * i + 1] = p[4 * i + 1]; o[3 * i + 2] = p[4 * i + 2] }
                    default:
                        for i in 0..<(n * 3) { o[i] = p[i] }
                    }
                }
            }
        }
        return Image(unchecked: width, height, 3, out)
    }

    /// Pillow `convert('L')`: grey and grey+alpha keep their grey samples; palette
    /// images are looked up first; RGB(A) become ITU-R 601-2 luma in Pillow's fixed point,
    /// `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16` (its `L24` macro), so grey network
    /// inputs match Pillow byte for byte.
    public func convertedToGrey() -> Image {
        if channels == 1 && palette == nil { return self }
        let rgb = channels == 2 ? nil : convertedToRGB()
        let n = width * height
        var out = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            if let rgb {
                let r = UInt32(rgb.pixels[3 * i]), g = UInt32(rgb.pixels[3 * i + 1]), b = UInt32(rgb.pixels[3 * i + 2])
                out[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
            } else {
                out[i] = pixels[2 * i]
            }
        }
        return Image(unchecked: width, height, 1, out)
    }

    /// Resampling filters, identical to Pillow's `Image.resize`.
    public enum Filter: Sendable {
        /// `Image.BILINEAR`: triangle filter whose support grows with the downscale factor
        /// (antialiasing), 22-bit fixed-point coefficients, horizontal then vertical pass.
        case bilinear
        /// `Image.NEAREST`: source index `int((x + 0.5) * scale)` accumulated in double.
        case nearest
    }

    /// Pillow `Image.resize((width, height), filter)`. Palette images keep their palette
    /// and only allow `.nearest` (as Pillow would resize a "P" image with NEAREST).
    /// Bilinear resizing of 2- and 4-channel images filters every channel independently
    /// (Pillow premultiplies alpha for "LA"/"RGBA"; convert to RGB first for Pillow parity).
    public func resized(width ow: Int, height oh: Int, filter: Filter) throws(SegcError) -> Image {
        try Image.checkSize(width: ow, height: oh, file: nil)
        if palette != nil && filter == .bilinear {
            throw SegcError(.unsupported, "bilinear resize of a palette image; convert it to RGB first")
        }
        let n = ow * oh * channels
        var rc: Int32 = 0
        let out = [UInt8](unsafeUninitializedCapacity: n) { buf, count in
            pixels.withUnsafeBufferPointer { p in
                guard let src = p.baseAddress, let dst = buf.baseAddress else { rc = -5; return }
                switch filter {
                case .bilinear:
                    rc = segc_pillow_resize_bilinear(src, Int32(width), Int32(height), Int32(channels), dst, Int32(ow), Int32(oh))
                case .nearest:
                    rc = segc_pillow_resize_nearest(src, Int32(width), Int32(height), Int32(channels), dst, Int32(ow), Int32(oh))
                }
            }
            if rc != 0 { buf.initialize(repeating: 0) }
            count = n
        }
        if rc != 0 { throw SegcError(.limit, "resize failed (code \(rc))") }
        return Image(unchecked: ow, oh, channels, out, palette)
    }

    /// The network input: RGB converted to planar float32 `[3, height, width]`, each
    /// sample `Float(v) / 255` (torchvision `ToTensor`). Non-RGB images are converted first.
    public func chwFloats() -> [Float] {
        let rgb = convertedToRGB()
        let n = width * height
        return [Float](unsafeUninitializedCapacity: 3 * n) { buf, count in
            rgb.pixels.withUnsafeBufferPointer { p in
                if let src = p.baseAddress, let dst = buf.baseAddress { segc_rgb8_to_chw(src, Int64(n), dst) }
            }
            count = 3 * n
        }
    }

    /// The standard preprocessing of product.md §3.3: `convert('RGB')`, Pillow BILINEAR
    /// resize to `width`×`height`, `/255`, CHW float32.
    public static func networkInput(contentsOf path: String, width: Int, height: Int) throws(SegcError) -> [Float] {
        try decode(contentsOf: path).convertedToRGB().resized(width: width, height: height, filter: .bilinear).chwFloats()
    }

    /// The network input for a plan with `channels` input channels: 3 as
    /// ``networkInput(contentsOf:width:height:)``; 1 as Pillow's `convert('L')`, BILINEAR
    /// resize, `/255`, one plane. Images carry no other channel count, so any other
    /// value is refused (feed such networks preprocessed `.npy` tensors).
    public static func networkInput(contentsOf path: String, channels: Int, width: Int, height: Int) throws(SegcError) -> [Float] {
        switch channels {
        case 3: return try networkInput(contentsOf: path, width: width, height: height)
        case 1:
            let g = try decode(contentsOf: path).convertedToGrey().resized(width: width, height: height, filter: .bilinear)
            return g.pixels.map { Float($0) / 255 }
        default:
            throw SegcError(.unsupported, "the plan's input has \(channels) channels; images can feed only 1-channel (grey) or 3-channel (RGB) inputs, give a .npy tensor", file: path)
        }
    }
}

/// A single-channel 8-bit label map (ground truth): grey values or palette indices as values.
public struct LabelMask: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Row-major label values.
    public var values: [UInt8]

    /// Wraps values; `values.count` must be `width * height`.
    public init(width: Int, height: Int, values: [UInt8]) throws(SegcError) {
        try Image.checkSize(width: width, height: height, file: nil)
        guard values.count == width * height else {
            throw SegcError(.mismatch, "\(values.count) labels for a \(width)x\(height) mask")
        }
        self.width = width
        self.height = height
        self.values = values
    }

    /// Decodes a label image: 8-bit grey (values as stored) or palette (indices as values,
    /// as the reference opens masks, and as `convert('P')` leaves them).
    /// - Throws: `SegcError` naming `path` for colour images or anything `Image.decode` refuses.
    public static func decode(contentsOf path: String) throws(SegcError) -> LabelMask {
        let image = try Image.decode(contentsOf: path)
        guard image.channels == 1 else {
            throw SegcError(.unsupported, "label masks must be 8-bit grey or palette images (found \(image.channels) channels)", file: path)
        }
        return LabelMask(unchecked: image.width, image.height, image.pixels)
    }

    init(unchecked width: Int, _ height: Int, _ values: [UInt8]) {
        self.width = width
        self.height = height
        self.values = values
    }

    /// Pillow `resize((width, height), NEAREST)`.
    public func resizedNearest(width ow: Int, height oh: Int) throws(SegcError) -> LabelMask {
        let img = try Image(width: width, height: height, channels: 1, pixels: values)
            .resized(width: ow, height: oh, filter: .nearest)
        return LabelMask(unchecked: ow, oh, img.pixels)
    }

    /// Replaces every `from` value by `to` (e.g. RoadAnomaly's 2 → 1, Cityscapes' 255 → 19).
    public mutating func map(_ from: UInt8, to: UInt8) {
        for i in values.indices where values[i] == from { values[i] = to }
    }
}
