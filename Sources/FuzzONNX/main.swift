// Fuzz target for the ONNX reader: ONNXImporter.load (size check, PreScan of the
// wire format, protobuf-c decoding, conversion, translation to IR with shape
// inference and constant folding).
//
// The model path lies in a folder that does not exist, so external-data
// references resolve to nothing (an `io` error), never to a real file.
//
// Built with `-Xswiftc -sanitize=fuzzer,address -Xswiftc -DSEGC_FUZZ` (scripts/fuzz.sh)
// this is a libFuzzer binary; built normally it replays files and folders given
// as arguments (Tests/segcTests/FuzzRegressionTests.swift).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore
import SegcONNX

/// Feeds one input to the reader. Thrown `SegcError`s are the expected outcome
/// for hostile bytes; any crash, hang or leak is a finding.
/// Exported as `LLVMFuzzerTestOneInput` only in the libFuzzer build (the test
/// bundle links every executable module, where the C symbol would clash).
#if SEGC_FUZZ
@_cdecl("LLVMFuzzerTestOneInput")
#endif
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fb = FileBytes(bytes: UnsafeBufferPointer(start: data, count: size), name: "fuzz.onnx")
    do throws(SegcError) {
        _ = try ONNXImporter.load(fb, path: "/nonexistent-segc-fuzz/fuzz.onnx", inputSize: nil)
    } catch {
        _ = error
    }
    return 0
}

#if SEGC_FUZZ
// MARK: - libFuzzer driver (built with -DSEGC_FUZZ)

// SwiftPM links an executable's `main` to this module's top-level code, so
// libFuzzer's own `main` is never used: the top-level code hands control to
// libFuzzer's documented entry point `LLVMFuzzerRunDriver` (LLVM >= 12), which
// parses the usual libFuzzer flags and calls `LLVMFuzzerTestOneInput`. Declared
// by symbol name; all arguments are pointers and the result an int, which the
// Swift and C calling conventions pass alike on the supported platforms.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var fuzzArgc = CommandLine.argc
var fuzzArgv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    var empty: UInt8 = 0
    guard let data else { return fuzz(&empty, 0) }
    return fuzz(data, size)
})
#else
// MARK: - Replay (built without -DSEGC_FUZZ)

/// Replays every file named on the command line (folders: their files, sorted,
/// dot-files skipped) through `fuzz`. Exit 0 when nothing crashed; a crash ends
/// the process by a signal. Exit 2 on a path that cannot be read.
func eprint(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

func replayMain() -> Int32 {
    let args = Array(CommandLine.arguments.dropFirst())
    if args.isEmpty || args.contains("-h") || args.contains("--help") {
        print("usage: \(CommandLine.arguments.first ?? "fuzz") <file-or-folder>...  (replays each file through the fuzz entry point)")
        return args.isEmpty ? 2 : 0
    }
    var files: [String] = []
    for a in args {
        var st = stat()
        guard stat(a, &st) == 0 else { eprint("error: \(a): cannot stat\n"); return 2 }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard let d = opendir(a) else { eprint("error: \(a): cannot open folder\n"); return 2 }
            var names: [String] = []
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name.hasPrefix(".") { continue }
                var est = stat()
                let p = a.hasSuffix("/") ? a + name : a + "/" + name
                if stat(p, &est) == 0, (est.st_mode & S_IFMT) == S_IFREG { names.append(p) }
            }
            closedir(d)
            files += names.sorted()
        } else {
            files.append(a)
        }
    }
    for f in files {
        let bytes: [UInt8]
        do { bytes = try FileBytes(contentsOf: f).toArray() } catch {
            eprint("error: \(f): \(error)\n"); return 2
        }
        eprint("replay \(f) (\(bytes.count) bytes)\n")
        let status = bytes.withUnsafeBufferPointer { b -> CInt in
            if let p = b.baseAddress { return fuzz(p, b.count) }
            var zero: UInt8 = 0
            return fuzz(&zero, 0)
        }
        if status != 0 { eprint("error: \(f): entry point returned \(status)\n"); return 1 }
    }
    print("replayed \(files.count) file(s) without a crash")
    return 0
}

exit(replayMain())
#endif
