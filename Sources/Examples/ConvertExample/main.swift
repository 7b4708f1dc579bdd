// ConvertExample — how an application compiles a model itself: convert a PyTorch
// checkpoint (or ONNX model) with SegcCompiler, write the plan, load it with
// SegcRuntime and run it. Uses only the public library products.
//
//   swift run -c release ConvertExample ../shared/models/midenet_distilled.pth midenet.segc 128x256
#if canImport(Glibc)
import Glibc
#endif
import SegcCompiler
import SegcRuntime

/// Writes one line to standard error (fd 2; the C `stderr` global is not concurrency-safe).
func printError(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

let args = CommandLine.arguments
guard args.count == 3 || args.count == 4 else {
    printError("usage: ConvertExample MODEL OUT.segc [HxW]")
    exit(2)
}
var size: (height: Int, width: Int)?
if args.count == 4 {
    let parts = args[3].split(separator: "x").compactMap { Int($0) }
    guard parts.count == 2 else { printError("error: size must be HxW"); exit(2) }
    size = (parts[0], parts[1])
}

do {
    // import → legalise → optimise → lower → verify, as `segc convert` does.
    let plan = try SegcCompiler.convert(contentsOf: args[1], options: .init(inputSize: size))
    try plan.write(to: args[2])
    print("\(args[2]): \(plan.architecture) \(plan.precision) input \(plan.inputShape), \(plan.bytes.count) bytes, passes: \(plan.passes.joined(separator: ", "))")

    // The same bytes, loaded and verified by the runtime.
    let model = try SegcModel(bytes: plan.bytes, name: args[2])
    let session = try SegcSession(model: model, threads: 0)
    let input = [Float](repeating: 0.5, count: model.inputShape.reduce(1, *))   // a mid-grey frame
    let logits = try session.run(input)
    // Per-pixel argmax: which classes the network sees in the grey frame.
    let (c, plane) = (model.outputShape[1], model.outputShape[2] * model.outputShape[3])
    var counts = [Int](repeating: 0, count: c)
    for p in 0..<plane {
        var best = 0
        for k in 1..<c where logits[k * plane + p] > logits[best * plane + p] { best = k }
        counts[best] += 1
    }
    let top = counts.enumerated().max { $0.element < $1.element } ?? (offset: 0, element: 0)
    print("logits \(model.outputShape); most frequent class \(top.offset) on \(top.element) of \(plane) pixels")
} catch {
    printError("error: \(error)")
    exit(1)
}
