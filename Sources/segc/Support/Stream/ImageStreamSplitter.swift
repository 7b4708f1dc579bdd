import SegcCore

/// Cuts a byte stream of concatenated PNG and JPEG files (a camera pipe on stdin) into
/// whole images, by walking each format's structure rather than searching for an end
/// marker: a PNG ends with its IEND chunk; a JPEG ends with the EOI marker that follows
/// its entropy-coded data (markers inside APP segments, such as an EXIF thumbnail's own
/// EOI, are skipped by their segment lengths; 0xFF bytes in scan data are stuffed).
struct ImageStreamSplitter {
    private var buffer: [UInt8] = []
    private var start = 0
    /// Largest image accepted (bytes): a stream that never ends an image is an error.
    let limit: Int

    init(limit: Int = 256 << 20) { self.limit = limit }

    mutating func append(_ bytes: ArraySlice<UInt8>) {
        if start > 0 && start >= buffer.count / 2 { buffer.removeFirst(start); start = 0 }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole image, `nil` when more bytes are needed.
    mutating func next() throws(SegcError) -> [UInt8]? {
        let n = buffer.count - start
        if n < 8 { return nil }
        let end: Int?
        if buffer[start] == 0x89 && buffer[start + 1] == 0x50 {
            end = try pngEnd()
        } else if buffer[start] == 0xFF && buffer[start + 1] == 0xD8 {
            end = try jpegEnd()
        } else {
            throw SegcError(.malformed, "stream byte \(start): not the start of a PNG or JPEG image")
        }
        guard let end else {
            if n > limit { throw SegcError(.limit, "an image in the stream exceeds \(limit >> 20) MiB") }
            return nil
        }
        let image = Array(buffer[start..<end])
        start = end
        return image
    }

    /// Bytes left over that do not form a whole image (0 at a clean end of stream).
    var pending: Int { buffer.count - start }

    private func u32(_ i: Int) -> Int {
        Int(buffer[i]) << 24 | Int(buffer[i + 1]) << 16 | Int(buffer[i + 2]) << 8 | Int(buffer[i + 3])
    }

    private func pngEnd() throws(SegcError) -> Int? {
        var i = start + 8
        while i + 12 <= buffer.count {
            let length = u32(i)
            if length > 0x7FFF_FFFF { throw SegcError(.malformed, "PNG chunk length \(length) in the stream") }
            let isEnd = buffer[i + 4] == 0x49 && buffer[i + 5] == 0x45 && buffer[i + 6] == 0x4E && buffer[i + 7] == 0x44
            let next = i + 12 + length
            if isEnd { return next <= buffer.count ? next : nil }
            i = next
        }
        return nil
    }

    private func jpegEnd() throws(SegcError) -> Int? {
        var i = start + 2
        var inScan = false
        while i + 1 < buffer.count {
            if inScan {
                // Entropy-coded data: FF 00 is a stuffed byte, FF D0–D7 a restart marker.
                if buffer[i] != 0xFF { i += 1; continue }
                let m = buffer[i + 1]
                if m == 0x00 || (0xD0...0xD7).contains(m) || m == 0xFF { i += (m == 0xFF ? 1 : 2); continue }
                inScan = false
                continue
            }
            if buffer[i] != 0xFF { throw SegcError(.malformed, "JPEG marker expected at stream byte \(i)") }
            let m = buffer[i + 1]
            if m == 0xFF { i += 1; continue }           // fill byte
            if m == 0xD9 { return i + 2 }                // EOI
            if (0xD0...0xD7).contains(m) || m == 0x01 { i += 2; continue }
            guard i + 3 < buffer.count else { return nil }
            let length = Int(buffer[i + 2]) << 8 | Int(buffer[i + 3])
            if length < 2 { throw SegcError(.malformed, "JPEG segment length \(length) at stream byte \(i)") }
            i += 2 + length
            if m == 0xDA { inScan = true }               // SOS: scan data follows its header
        }
        return nil
    }
}
