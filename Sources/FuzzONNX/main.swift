// Fuzz target for the ONNX reader: ONNXImporter.load (size check, PreScan of the
// wire format, protobuf-c decoding, conversion, translation to IR with shape
// inference and constant folding).
//
// The model path lies in a folder that does not exist, so external-data
// references resolve to nothing (an `io` error), never to a real file.
//
// The libFuzzer / replay driver is FuzzSupport's `runFuzzTarget`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SegcCore
import FuzzSupport
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

runFuzzTarget { data, size in
    var empty: UInt8 = 0
    guard let data else { return fuzz(&empty, 0) }
    return fuzz(data, size)
}
