import SegcCore

extension Visualization {
    /// The inferno heatmap of `scores` (``heatmap(scores:width:height:)``) blended over
    /// `frame`: `out = (1 − alpha) · frame + alpha · heatmap`, per channel, rounded. A bare
    /// heatmap hides the road scene; blended, the hot region can be matched to the object.
    /// `frame` must be RGB (it is converted otherwise) and the size of the score map.
    public static func overlay(scores: [Float], on frame: Image, alpha: Double = 0.55) throws(SegcError) -> Image {
        let heat = try heatmap(scores: scores, width: frame.width, height: frame.height)
        return try blend(heat, over: frame, alpha: alpha)
    }

    /// `(1 − alpha) · base + alpha · top` for two RGB images of equal size.
    public static func blend(_ top: Image, over base: Image, alpha: Double) throws(SegcError) -> Image {
        let b = base.convertedToRGB(), t = top.convertedToRGB()
        guard b.width == t.width, b.height == t.height else {
            throw SegcError(.mismatch, "a \(t.width)x\(t.height) overlay on a \(b.width)x\(b.height) frame")
        }
        let a = max(0, min(1, alpha))
        var px = b.pixels
        for i in 0..<px.count {
            px[i] = UInt8(((1 - a) * Double(b.pixels[i]) + a * Double(t.pixels[i])).rounded())
        }
        return try Image(width: b.width, height: b.height, channels: 3, pixels: px)
    }

    /// `frame` with the boundary of the anomaly region (label 1) drawn in `color`, and the
    /// ignored pixels (labels other than 0 and 1) darkened, so ground truth can be compared
    /// with a heatmap without hiding the object. A pixel is on the boundary when it is
    /// anomalous and a 4-neighbour within `thickness` is not.
    public static func outline(mask: LabelMask, on frame: Image, color: (UInt8, UInt8, UInt8) = (0, 255, 255),
                               thickness: Int = 2) throws(SegcError) -> Image {
        let f = frame.convertedToRGB()
        guard mask.width == f.width, mask.height == f.height else {
            throw SegcError(.mismatch, "a \(mask.width)x\(mask.height) label on a \(f.width)x\(f.height) frame")
        }
        let w = f.width, h = f.height
        var px = f.pixels
        let v = mask.values
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                if v[i] > 1 {
                    for c in 0..<3 { px[3 * i + c] = px[3 * i + c] / 3 }
                    continue
                }
                guard v[i] == 1 else { continue }
                var edge = false
                for d in 1...max(1, thickness) where !edge {
                    if x - d < 0 || v[i - d] != 1 { edge = true }
                    else if x + d >= w || v[i + d] != 1 { edge = true }
                    else if y - d < 0 || v[i - d * w] != 1 { edge = true }
                    else if y + d >= h || v[i + d * w] != 1 { edge = true }
                }
                if edge { px[3 * i] = color.0; px[3 * i + 1] = color.1; px[3 * i + 2] = color.2 }
            }
        }
        return try Image(width: w, height: h, channels: 3, pixels: px)
    }

    /// The RGB frame a network saw, back from its CHW `[0, 1]` input (exact: the input was
    /// `Float(v) / 255`).
    public static func frame(fromCHW input: [Float], width: Int, height: Int) throws(SegcError) -> Image {
        let n = width * height
        guard input.count == 3 * n else { throw SegcError(.mismatch, "\(input.count) values for a 3x\(height)x\(width) input") }
        var px = [UInt8](repeating: 0, count: 3 * n)
        for c in 0..<3 {
            for i in 0..<n { px[3 * i + c] = UInt8(max(0, min(255, (input[c * n + i] * 255).rounded()))) }
        }
        return try Image(width: width, height: height, channels: 3, pixels: px)
    }
}
