// swift-tools-version:6.0
// segc — model converter, compiler and runtime for real-time road-scene segmentation.
// Targets and their one-way dependencies follow ../shared/docs/architecture.md §2.
import PackageDescription

/// C kernels are always built optimised: tests compare numerics over whole networks
/// and a debug-built kernel would make the suite crawl.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno", "-fno-trapping-math", "-fveclib=libmvec"])]

let package = Package(
    name: "segc",
    products: [
        .executable(name: "segc", targets: ["segc"]),
        .library(name: "SegcRuntime", targets: ["SegcRuntime"]),
        .library(name: "SegcEval", targets: ["SegcEval"]),
        .library(name: "SegcCompiler", targets: ["SegcCompiler"]),
        .executable(name: "HeatmapExample", targets: ["HeatmapExample"]),
        .executable(name: "ConvertExample", targets: ["ConvertExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries (module maps only; pkg-config names).
        .systemLibrary(name: "CZip", pkgConfig: "libzip",
                       providers: [.apt(["libzip-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp",
                       providers: [.apt(["libwebp-dev"])]),

        // Foundation-free basics shared by every stage.
        .target(name: "SegcCore"),
        .target(name: "SegcIR", dependencies: ["SegcCore"]),
        .target(name: "SegcReference", dependencies: ["SegcIR"]),
        .target(name: "SegcTorch", dependencies: ["SegcIR", "CZip"]),
        .target(name: "CONNXProto", dependencies: ["CProtobufC"]),
        .target(name: "SegcONNX", dependencies: ["SegcIR", "CONNXProto"]),
        .target(name: "SegcPasses", dependencies: ["SegcIR"]),
        // libmvec (glibc's vector math) backs the vectorised expf/logf of the score kernel.
        .target(name: "CSegcKernels", cSettings: kernelFlags,
                linkerSettings: [.linkedLibrary("mvec")]),
        .target(name: "SegcPlan", dependencies: ["SegcCore", "CSegcKernels"]),
        .target(name: "SegcLower", dependencies: ["SegcIR", "SegcPlan"]),
        // Structured pruning on the IR: channel dependency groups, importance, removal.
        .target(name: "SegcPrune", dependencies: ["SegcCore", "SegcIR", "SegcPasses", "SegcPlan", "SegcLower", "SegcRuntime", "COpenBLAS"]),
        .target(name: "SegcRuntime", dependencies: ["SegcCore", "SegcPlan", "CSegcKernels"]),
        // int8 post-training quantization of plans: calibration histograms, the int8 pass, mixed precision.
        .target(name: "SegcQuantize", dependencies: ["CSegcKernels", "SegcCore", "SegcPlan", "SegcLower", "SegcRuntime", "SegcIR", "SegcPasses",
                                                     "SegcONNX", "SegcTorch", "SegcCompiler"]),
        // PNG/JPEG codecs in their own C target so the runtime never links libpng/libjpeg.
        .target(name: "CSegcImageIO", dependencies: ["CPNG", "CJPEG"], cSettings: kernelFlags),
        .target(name: "SegcEval", dependencies: ["SegcRuntime", "SegcCore", "CSegcKernels", "CSegcImageIO", "CWebP"]),
        // The compile pipeline (import → passes → lower → plan) as a public library.
        .target(name: "SegcCompiler", dependencies: ["SegcCore", "SegcIR", "SegcTorch", "SegcONNX", "SegcPasses",
                                                     "SegcLower", "SegcPlan", "SegcPrune"]),
        // Linked into the segc executable only: counts heap allocations for `bench`.
        .target(name: "CSegcAllocCounter"),
        .executableTarget(name: "segc", dependencies: [
            "CSegcAllocCounter",
            "SegcCore", "SegcIR", "SegcReference", "SegcTorch", "SegcPasses", "SegcLower",
            "SegcPlan", "SegcRuntime", "SegcONNX", "SegcEval", "SegcCompiler", "SegcPrune", "SegcQuantize",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Embedding example: loads a plan and writes a heatmap; built in CI.
        .executableTarget(name: "HeatmapExample", dependencies: ["SegcRuntime", "SegcEval"],
                          path: "Sources/Examples/HeatmapExample"),
        // Embedding example: converts a checkpoint with SegcCompiler and runs it with
        // SegcRuntime (library products only); built and run by the suite.
        .executableTarget(name: "ConvertExample", dependencies: ["SegcCompiler", "SegcRuntime"],
                          path: "Sources/Examples/ConvertExample"),

        // Fuzz targets: built normally they replay files (regression tests); built with
        // -Xswiftc -sanitize=fuzzer -Xswiftc -DSEGC_FUZZ they are libFuzzer binaries (scripts/fuzz.sh).
        .target(name: "FuzzSupport", dependencies: ["SegcCore"]),
        .executableTarget(name: "FuzzPickle", dependencies: ["SegcTorch", "SegcCore", "FuzzSupport"]),
        .executableTarget(name: "FuzzTorch", dependencies: ["SegcTorch", "SegcCore", "FuzzSupport"]),
        .executableTarget(name: "FuzzONNX", dependencies: ["SegcONNX", "SegcCore", "FuzzSupport"]),
        .executableTarget(name: "FuzzPlan", dependencies: ["SegcPlan", "SegcRuntime", "SegcQuantize", "SegcCore", "FuzzSupport"]),

        .testTarget(name: "SegcCoreTests", dependencies: ["SegcCore"]),
        .testTarget(name: "SegcIRTests", dependencies: ["SegcIR"]),
        .testTarget(name: "SegcReferenceTests", dependencies: ["SegcReference", "SegcIR"]),
        .testTarget(name: "SegcTorchTests", dependencies: ["SegcTorch", "SegcIR"]),
        .testTarget(name: "SegcPruneTests", dependencies: ["SegcPrune", "SegcIR", "SegcReference", "SegcCore", "SegcPlan"]),
        .testTarget(name: "SegcPassesTests", dependencies: ["SegcPasses", "SegcReference", "SegcIR"]),
        .testTarget(name: "SegcPlanTests", dependencies: ["SegcPlan"]),
        .testTarget(name: "SegcQuantizeTests", dependencies: ["SegcQuantize", "SegcCompiler", "SegcEval", "SegcLower", "SegcPlan",
                                                             "SegcReference", "SegcRuntime", "SegcCore", "SegcIR", "SegcPasses",
                                                             "SegcTorch"]),
        .testTarget(name: "SegcONNXTests", dependencies: ["SegcONNX", "SegcIR", "SegcReference"]),
        .testTarget(name: "SegcEvalTests", dependencies: ["SegcEval", "SegcCore"]),
        .testTarget(name: "SegcRuntimeTests", dependencies: ["SegcRuntime", "SegcPlan", "CSegcKernels"]),
        // Whole networks: checkpoint → IR → passes → plan → runtime, against PyTorch and the reference interpreter.
        .testTarget(name: "SegcIntegrationTests", dependencies: ["SegcTorch", "SegcIR", "SegcReference", "SegcPasses",
                                                                 "SegcLower", "SegcPlan", "SegcRuntime", "CZip"]),
        .testTarget(name: "SegcCompilerTests", dependencies: ["SegcCompiler", "SegcRuntime", "SegcCore"]),
        .testTarget(name: "segcTests", dependencies: ["segc", "SegcCore", "SegcEval", "CZip", "HeatmapExample", "ConvertExample",
                                                "FuzzPickle", "FuzzTorch", "FuzzONNX", "FuzzPlan"]),
    ],
    swiftLanguageModes: [.v6]
)
