#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file atomically: a temporary file in the destination folder,
/// fsync, then rename over the destination. On any failure (and on SIGINT /
/// SIGTERM, see `TemporaryFiles`) the temporary file is removed, so a failed
/// command never leaves a partial output or modifies an existing file.
public enum AtomicFile {
    public static func write(_ path: String, _ body: (inout OutputSink) throws(SegcError) -> Void) throws(SegcError) {
        let dir: String
        let base: String
        if let slash = path.lastIndex(of: "/") {
            dir = String(path[..<slash]).isEmpty ? "/" : String(path[..<slash])
            base = String(path[path.index(after: slash)...])
        } else {
            dir = "."; base = path
        }
        var template = Array("\(dir)/.\(base).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 { throw SegcError(.io, "cannot create a temporary file: \(String(cString: strerror(errno)))", file: path) }
        let tmp = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        TemporaryFiles.register(tmp)
        var sink = OutputSink(fd: fd, path: path)
        do {
            try body(&sink)
            try sink.flush()
            if fsync(fd) != 0 { throw SegcError(.io, "fsync failed: \(String(cString: strerror(errno)))", file: path) }
            _ = fchmod(fd, 0o644)
            close(fd)
            if rename(tmp, path) != 0 {
                throw SegcError(.io, "cannot rename into place: \(String(cString: strerror(errno)))", file: path)
            }
            TemporaryFiles.unregister(tmp)
        } catch let error as SegcError {
            close(fd)
            unlink(tmp)
            TemporaryFiles.unregister(tmp)
            throw error
        } catch {
            close(fd); unlink(tmp); TemporaryFiles.unregister(tmp)
            throw SegcError(.io, "\(error)", file: path)
        }
    }

    public static func write(_ path: String, bytes: [UInt8]) throws(SegcError) {
        try write(path) { (sink: inout OutputSink) throws(SegcError) in try sink.write(bytes) }
    }
}

/// Buffered writer used by `AtomicFile`.
public struct OutputSink {
    let fd: Int32
    let path: String
    var buffer: [UInt8] = []
    public private(set) var bytesWritten = 0

    init(fd: Int32, path: String) {
        self.fd = fd; self.path = path
        buffer.reserveCapacity(1 << 20)
    }

    public mutating func write(_ bytes: [UInt8]) throws(SegcError) {
        buffer.append(contentsOf: bytes)
        bytesWritten += bytes.count
        if buffer.count >= 1 << 20 { try flush() }
    }

    public mutating func write(_ raw: UnsafeRawBufferPointer) throws(SegcError) {
        buffer.append(contentsOf: raw)
        bytesWritten += raw.count
        if buffer.count >= 1 << 20 { try flush() }
    }

    mutating func flush() throws(SegcError) {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SegcError(.io, "write failed: \(String(cString: strerror(errno)))", file: path)
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
