import SegcCompiler
import SegcCore
import SegcIR
import SegcONNX
import SegcPasses
import SegcPlan
import SegcTorch

/// Real int8 plans from already-quantized models (issue 14, point 5): an ONNX QDQ model
/// (ORT `quantize_static`) or, with `keepQuant`, an FX-quantized PyTorch checkpoint. The
/// model's own activation grids stand in for calibration:
///
/// import → (FX: qparams as Q/DQ nodes, `FXActivationGrids`) → legalise →
/// `Pipeline.optimiseQuantized` (Q/DQ → value grids, then the fusions) → lower →
/// `Int8Lowering` on those grids, the weights kept on their source int8 grids.
///
/// The grids are taken on the IR, before the fusions, not from the lowered plan: there
/// the Q/DQ ops sit between each conv and its add / ReLU (the float pipeline cannot fuse
/// through them), and ORT's ReLUs exist only as the clamp of a zero-point-0 Q/DQ.
package enum QDQToInt8 {
    package struct Options: Sendable {
        /// Insert an FX checkpoint's activation qparams (`convert --keep-quant`).
        package var keepQuant = false
        /// Keep the Q/DQ as simulated float32 ops (the plan before this pass existed).
        package var simulate = false
        package init() {}
    }

    /// `Compiler.compile`, with quantized models lowered to real int8. A model without
    /// uint8 quantize-dequantize nodes compiles exactly as `Compiler.compile` does.
    package static func compile(_ file: FileBytes, options: CompileOptions, quant: Options) throws(SegcError) -> CompileResult {
        var imported = try Compiler.importModel(file, options: options)
        if quant.keepQuant, let ckpt = imported.checkpoint {
            let (_, warnings) = try FXActivationGrids.insert(into: &imported.graph, tensors: ckpt.tensors, file: imported.sourceName)
            imported.warnings += warnings
        }
        try Compiler.run(Pipeline.legalise, on: &imported)
        let quantized = imported.graph.nodes.contains {
            if case .quantizeDequantize(let q) = $0.op { q.qmin == 0 && q.qmax == 255 } else { false }
        }
        if quant.simulate || !quantized {
            if options.optimize { try Compiler.run(Compiler.optimise, on: &imported) }
            let plan = try Compiler.lower(imported, mean: options.mean, std: options.std)
            return CompileResult(imported: imported, plan: plan, passes: imported.passes)
        }
        try Compiler.run(options.optimize ? Pipeline.optimiseQuantized : [QDQToGrids()], on: &imported)
        let (plan, values) = try Compiler.lowerMapped(imported, mean: options.mean, std: options.std)
        var q: PlanFile
        do { q = try lower(plan, grids: grids(imported.graph, values)) } catch { throw error.inFile(imported.sourceName) }
        q.metadata.quantization = .object([
            "source": .string(imported.checkpoint != nil ? "fx checkpoint qparams" : "onnx qdq"),
            "weights": .string("int8 per output channel, on the source's grids"),
            "activations": .string("uint8 per tensor, the source's scales and zero points"),
        ])
        imported.warnings.removeAll { $0 == QDQ.simulatedWarning }
        let signed = imported.graph.nodes.filter { if case .quantizeDequantize(let p) = $0.op { p.qmin < 0 } else { false } }.count
        if signed > 0 {
            imported.warnings.append("\(signed) int8 (signed) quantize-dequantize ops stay simulated in float32; "
                                     + "the int8 kernels take uint8 activations")
        }
        return CompileResult(imported: imported, plan: q, passes: imported.passes)
    }

    /// Each grid-carrying IR activation's grid, by plan value index.
    package static func grids(_ graph: Graph, _ values: [ValueID: Int]) -> [Int: QuantParams] {
        var grids: [Int: QuantParams] = [:]
        for (id, p) in values {
            if let g = graph.values[id.index].grid { grids[p] = QuantParams(scale: g.scale, zeroPoint: g.zeroPoint) }
        }
        return grids
    }

    /// The float plan → int8 on `grids`; precision `int8` when every convolution made it.
    package static func lower(_ plan: PlanFile, grids: [Int: QuantParams]) throws(SegcError) -> PlanFile {
        var q = try Int8Lowering.lower(plan, grids: grids, fp32Layers: [], sourceGrids: true)
        let floatConvs = q.graph.ops.contains { [.conv2d, .convTranspose2d].contains($0.kind) }
        q.metadata.precision = floatConvs ? "mixed" : "int8"
        q.metadata.passes.append("int8-from-source-grids")
        return q
    }
}
