// The driver shared by the four fuzz targets (FuzzPickle, FuzzTorch, FuzzONNX,
// FuzzPlan): each target defines its entry point and calls `runFuzzTarget`.
//
// Built with `-Xswiftc -sanitize=fuzzer,address -Xswiftc -DSEGC_FUZZ` (scripts/fuzz.sh)
// it hands control to libFuzzer; built normally it replays the files and folders given
// as arguments (Tests/segcTests/FuzzRegressionTests.swift).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore

/// A fuzz entry point: the bytes of one input (nil when empty) and their count.
public typealias FuzzEntry = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// Runs libFuzzer (with `-DSEGC_FUZZ`) or replays files through `entry`; never returns.
public func runFuzzTarget(_ entry: FuzzEntry) -> Never {
#if SEGC_FUZZ
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, entry))
#else
    exit(replayMain(entry))
#endif
}

#if SEGC_FUZZ
// SwiftPM links an executable's `main` to the module's top-level code, so
// libFuzzer's own `main` is never used: the top-level code hands control to
// libFuzzer's documented entry point `LLVMFuzzerRunDriver` (LLVM >= 12), which
// parses the usual libFuzzer flags and calls the callback. Declared by symbol name;
// all arguments are pointers and the result an int, which the Swift and C calling
// conventions pass alike on the supported platforms.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: FuzzEntry
) -> CInt
#else
// MARK: - Replay (built without -DSEGC_FUZZ)

/// Replays every file named on the command line (folders: their files, sorted,
/// dot-files skipped) through `fuzz`. Exit 0 when nothing crashed; a crash ends
/// the process by a signal. Exit 2 on a path that cannot be read.
func eprint(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

func replayMain(_ entry: FuzzEntry) -> Int32 {
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
            entry(b.baseAddress, b.count)
        }
        if status != 0 { eprint("error: \(f): entry point returned \(status)\n"); return 1 }
    }
    print("replayed \(files.count) file(s) without a crash")
    return 0
}

#endif
