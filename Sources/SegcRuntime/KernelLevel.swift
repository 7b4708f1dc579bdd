import CSegcKernels
import SegcCore

/// The instruction-set level of segc's CPU kernels.
///
/// segc picks the highest level the CPU supports (`auto`). Forcing a lower level
/// reproduces a figure measured on another machine; every level computes the same
/// network to within 1e-4·max|logit| (convolutions feeding index-returning pools
/// bit-identically), so a forced level changes speed, not answers.
///
/// The level is **process-wide**: set it before creating sessions, not while another
/// thread is running one.
///
/// ```swift
/// try KernelLevel.force(.avx2)          // error on a CPU without AVX2
/// print(KernelLevel.current)            // avx2
/// print(KernelLevel.available)          // [scalar, avx2, avx512] on an AVX-512 machine
/// ```
public enum KernelLevel: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Portable C, vectorised by the compiler for the baseline ISA.
    case scalar = 0
    /// AVX2 + FMA (x86-64 v3); int8 convolutions use AVX-VNNI when the CPU has it.
    case avx2 = 1
    /// AVX-512 F/BW/VL/DQ.
    case avx512 = 2

    /// `"scalar"`, `"avx2"` or `"avx512"`.
    public var description: String {
        switch self {
        case .scalar: return "scalar"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        }
    }

    /// Parses `scalar`, `avx2` or `avx512` (`auto` is not a level: see ``select(_:)``).
    public init?(name: String) {
        guard let l = KernelLevel.allCases.first(where: { $0.description == name }) else { return nil }
        self = l
    }

    /// The highest level this CPU supports.
    public static var best: KernelLevel { KernelLevel(rawValue: Int(segc_detected_cpu_level())) ?? .scalar }

    /// Every level this CPU can run, lowest first.
    public static var available: [KernelLevel] { allCases.filter { $0.rawValue <= best.rawValue } }

    /// The level the kernels use now.
    public static var current: KernelLevel {
        segc_kernels_init()
        return KernelLevel(name: String(cString: segc_cpu_level())) ?? .scalar
    }

    /// The int8 convolution kernel models loaded now get (weights are packed for it at
    /// load): `"scalar"`, `"avx2/vpmaddwd"`, `"avx2/avx-vnni"`, `"avx512/vpmaddwd"` or
    /// `"avx512/vnni"`. The VNNI ones follow the CPU (AVX-VNNI, AVX-512 VNNI) unless the
    /// environment has `SEGC_NO_VNNI=1`; all compute the same bytes.
    public static var int8ConvKernel: String {
        segc_kernels_init()
        return String(cString: segc_qconv_kernel())
    }

    /// Makes every later kernel call use `level`.
    /// - Throws: `SegcError` (`.unsupported`, "this CPU has no avx512") when the CPU lacks it.
    public static func force(_ level: KernelLevel) throws(SegcError) {
        if level.rawValue > best.rawValue {
            throw SegcError(.unsupported, "this CPU has no \(level)")
        }
        _ = segc_set_cpu_level(Int32(level.rawValue))
    }

    /// Applies a user's choice: `"auto"` (the best level) or a level name.
    /// - Throws: `SegcError` (`.usage` for an unknown name, `.unsupported` for a level
    ///   the CPU lacks).
    public static func select(_ name: String) throws(SegcError) {
        if name == "auto" { try force(best); return }
        guard let level = KernelLevel(name: name) else {
            throw SegcError(.usage, "unknown kernel level '\(name)' (expected auto, scalar, avx2 or avx512)")
        }
        try force(level)
    }
}
