// Fuzz target for both PyTorch containers: TorchCheckpoint.load dispatches on the
// content to the zip container (libzip, local-header checks, pickle VM, storages,
// tensor views) or the legacy container (five pickles, raw storages).
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
import SegcTorch

/// Feeds one input to the reader. Thrown `SegcError`s are the expected outcome
/// for hostile bytes; any crash, hang or leak is a finding.
/// Exported as `LLVMFuzzerTestOneInput` only in the libFuzzer build (the test
/// bundle links every executable module, where the C symbol would clash).
#if SEGC_FUZZ
@_cdecl("LLVMFuzzerTestOneInput")
#endif
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fb = FileBytes(bytes: UnsafeBufferPointer(start: data, count: size), name: "fuzz.pth")
    do throws(SegcError) {
        _ = try TorchCheckpoint.load(fb)
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
