#if canImport(Glibc)
import Glibc
#endif
import SegcCore
import SegcEval

/// Where frames come from: the image files of a folder in sorted order, or whole
/// PNG/JPEG images cut from stdin. Yields (name, encoded bytes); decoding happens in the
/// pipeline's decode stage.
final class FrameSource: @unchecked Sendable {
    private var files: [String] = []
    private var index = 0
    private let folder: String?
    private var splitter = ImageStreamSplitter()
    private var eof = false
    private var count = 0

    init(_ source: String) throws(SegcError) {
        if source == "-" {
            folder = nil
            return
        }
        guard isDirectory(source) else { throw SegcError(.io, "not a folder (use '-' for stdin)", file: source) }
        folder = source
        files = try listDirectory(source).filter(Image.hasImageExtension)
        if files.isEmpty { throw SegcError(.io, "no PNG, JPEG or WebP images in the folder", file: source) }
    }

    /// Frames known in advance (folder), or nil (stdin).
    var total: Int? { folder == nil ? nil : files.count }

    /// The next frame, or nil at the end.
    func next() throws(SegcError) -> (name: String, bytes: [UInt8])? {
        if let folder {
            guard index < files.count else { return nil }
            let name = files[index]
            index += 1
            let path = "\(folder)/\(name)"
            let file = try FileBytes(contentsOf: path)
            return (stemOf(name), Array(file.buffer))
        }
        while true {
            if let image = try splitter.next() {
                defer { count += 1 }
                return (frameName(count), image)
            }
            if eof {
                if splitter.pending > 0 {
                    throw SegcError(.malformed, "stdin ended inside an image (\(splitter.pending) bytes left)", file: "-")
                }
                return nil
            }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 { throw SegcError(.io, "cannot read stdin: \(String(cString: strerror(errno)))", file: "-") }
            if n == 0 { eof = true } else { splitter.append(chunk[0..<n]) }
        }
    }

    private func frameName(_ i: Int) -> String {
        let digits = String(i)
        return "frame_" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    private func stemOf(_ name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return name }
        return String(name[..<dot])
    }
}
