import ArgumentParser
import SegcCore
import SegcRuntime

/// `--kernels auto|scalar|avx2|avx512` (run, bench, eval): forces a dispatch level, so
/// a figure measured on one machine can be reproduced on another.
struct KernelOptions: ParsableArguments {
    @Option(help: "Kernel level: auto (the CPU's best), scalar, avx2 or avx512.")
    var kernels: String = "auto"

    func validate() throws {
        if kernels != "auto" && KernelLevel(name: kernels) == nil {
            throw ValidationError("unknown --kernels '\(kernels)' (auto, scalar, avx2, avx512)")
        }
    }

    /// Applies the choice before anything runs; a level the CPU lacks is
    /// `error: <plan>: this CPU has no avx512` (exit 1), before any output is written.
    func apply(for file: String) throws {
        do throws(SegcError) {
            try KernelLevel.select(kernels)
        } catch {
            throw error.inFile(file)
        }
    }
}
