import CSegcKernels
import SegcCore
import SegcPlan
#if canImport(Glibc)
import Glibc
#endif

/// A loaded, verified and prepared segmentation network.
///
/// A model holds the verified plan and its weights in the form the kernels use
/// (float32, 64-byte aligned; transposed-convolution weights re-arranged once into
/// one GEMM matrix per output phase). It is immutable: share one model between
/// threads and create one ``SegcSession`` per thread that runs it.
///
/// ```swift
/// let model = try SegcModel(contentsOf: "erfnet.segc")
/// let session = try SegcSession(model: model, threads: 2)
/// let logits = try session.run(pixels)
/// ```
public final class SegcModel: Sendable {
    /// The verified plan.
    package let plan: PlanFile
    /// Prepared weights (see ``WeightStore``).
    package let store: WeightStore
    /// Per plan op, what the executor needs beyond the plan (validated geometry).
    package let prepared: [PreparedOp]
    /// Conv steps that also run the add and activation after them (`ConvTailFusion`).
    package let convTails: [Int: Step]

    /// Shape of the input tensor, `[1, 3, H, W]` for the networks segc compiles.
    public let inputShape: [Int]
    /// Shape of the output logits, `[1, classes, H, W]`.
    public let outputShape: [Int]
    /// Number of classes (channels of the output).
    public let classes: Int
    /// Names of the graph outputs, the first being the one `run` returns (`""` when the
    /// source did not name it). More than one only for ONNX models with several outputs.
    public let outputNames: [String]
    /// Shapes of the graph outputs, in the order of ``outputNames``.
    public let outputShapes: [[Int]]
    /// Whether the plan carries a range guard (int8 plans from `segc quantize`), which
    /// ``SegcSession/checksRange`` checks.
    public var hasRangeGuard: Bool { !plan.metadata.rangeGuard.isEmpty }

    /// Loads a `.segc` plan from `path`, verifies it and prepares its weights.
    ///
    /// - Throws: `SegcError` when the file cannot be read, fails verification, or
    ///   contains an op this runtime cannot execute.
    public convenience init(contentsOf path: String) throws {
        do throws(SegcError) {
            let plan = try PlanReader.read(path: path)
            try self.init(plan: plan)
        } catch {
            throw error.inFile(path)
        }
    }

    /// Loads a plan held in memory (e.g. received over the network or embedded in an
    /// app bundle), verifies it and prepares its weights. The bytes are copied once.
    ///
    /// - Parameters:
    ///   - bytes: the complete `.segc` file.
    ///   - name: the name used in error messages.
    /// - Throws: `SegcError` when the bytes fail verification or contain an op this
    ///   runtime cannot execute.
    public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
        do throws(SegcError) {
            try self.init(plan: PlanReader.read(FileBytes(bytes: bytes, name: name)))
        } catch {
            throw error.inFile(name)
        }
    }

    /// Validates `plan` for what the runtime can execute and prepares its weights.
    package init(plan: PlanFile) throws(SegcError) {
        segc_kernels_init()
        let checked = try PlanValidator.validate(plan)
        self.plan = plan
        self.store = try WeightStore(plan: plan, ops: checked)
        self.prepared = checked
        self.convTails = ConvTailFusion.fusedSteps(plan: plan, prepared: checked)
        let g = plan.graph
        inputShape = g.values[g.input].shape
        outputShape = g.values[g.output].shape
        classes = outputShape.count >= 2 ? outputShape[1] : (outputShape.first ?? 0)
        outputNames = [plan.metadata.outputName] + plan.metadata.extraOutputs.map(\.name)
        outputShapes = [outputShape] + plan.metadata.extraOutputs.map(\.shape)
    }

    /// Whether ``floatTwin()`` can build this int8 plan's float twin (the plan records the
    /// grids of its uint8 tensors: int8 plans from `segc quantize`).
    public var hasFloatTwin: Bool { !plan.metadata.valueGrids.isEmpty }

    /// The float twin of this int8 plan: the same network in float32 with the int8 weights
    /// dequantized, so its activations are neither rounded nor clipped at the top of their
    /// grids. A fallback the int8 plan carries itself, for the frames its range guard flags
    /// (``SegcSession/rangeExcesses``): no fp32 plan needs to ship beside it. It runs at fp32
    /// speed and differs from the fp32 plan it was quantized from by the weights' rounding
    /// (and bias correction).
    ///
    /// - Throws: `SegcError` `.unsupported` when the plan has no grids (fp32 plans, int8 plans
    ///   made before the twin existed); `.mismatch` when its grids disagree with the zero
    ///   points or scales its int8 ops record (an edited or damaged plan).
    public func floatTwin() throws -> SegcModel {
        do throws(SegcError) { return try SegcModel(plan: FloatTwin.build(plan)) } catch { throw error }
    }

    /// The kernel dispatch level in use on this CPU: `"avx512"`, `"avx2"` or `"scalar"`.
    public static var cpuLevel: String { KernelLevel.current.description }
}

/// The prepared weights of a model: the plan's `WGHT` section, used in place when the
/// plan is a mapped file (64-byte aligned weights, as the format guarantees) and copied
/// into an aligned buffer otherwise, plus one buffer of the packed matrices of
/// transposed convolutions.
///
/// In place matters for memory: the mapped pages already count in the process's RSS,
/// so a copy doubled the weights' share of it (BiSeNetV1: 53 MB twice).
///
/// `@unchecked Sendable`: the buffers are written only inside `init` and never after;
/// every later access is a read; `keep` holds the mapping alive as long as the store.
package final class WeightStore: @unchecked Sendable {
    /// Start of the WGHT section (weight refs are offsets from here).
    package let base: UnsafeRawPointer
    /// Packed transposed-conv weights (`packedOffsets` are offsets from here).
    package let packedBase: UnsafeMutableRawPointer
    package let byteCount: Int
    /// Byte offset of the packed weight for each plan op (convTranspose2d only), else -1.
    package let packedOffsets: [Int]
    private let copied: UnsafeMutableRawPointer?
    /// The weights are read in place from a file mapping (not from a copy or an owned buffer).
    private let fileMapped: Bool
    private let keep: PlanWeights

    init(plan: PlanFile, ops: [PreparedOp]) throws(SegcError) {
        let section = plan.weights.count
        var total = 0
        var offsets = [Int](repeating: -1, count: ops.count)
        for (i, op) in ops.enumerated() where op.kind == .convTranspose2d || op.isQConv {
            let bytes: Int
            if op.isQConv {
                // int8 weights are packed for the dispatch level current at load time; the
                // packed buffer records it, and every level gives the same integers.
                var q = op.qconv
                let n = segc_qconv_packed_bytes(&q, op.kind == .qconvTranspose2d ? 1 : 0)
                if n < 0 { throw SegcError(.unsupported, "int8 convolution geometry not supported", at: .layer("op \(i)")) }
                bytes = Int(n)
            } else {
                var p = op.conv
                let n = segc_convt_packed_size(&p)
                if n < 0 { throw SegcError(.unsupported, "transposed convolution geometry not supported", at: .layer("op \(i)")) }
                bytes = try Checked.mul(Int(n), 4)
            }
            offsets[i] = total
            total = try Checked.add(total, (bytes + 63) & ~63, "prepared weights")
        }
        var inPlace: UnsafeRawPointer? = nil
        var fromFile = false
        if case .mapped(let file, let offset, _) = plan.weights.storage, Int(bitPattern: file.base + offset) % 64 == 0 {
            inPlace = file.base + offset
            fromFile = file.isFileMapping
        }
        fileMapped = fromFile
        try Limits.check(total + (inPlace == nil ? section : 0), Limits.maxAllocationBytes, "prepared weight bytes")
        if let inPlace {
            copied = nil
            base = inPlace
        } else {
            let buf = UnsafeMutableRawPointer.allocate(byteCount: max(section, 64), alignment: 64)
            plan.weights.withBytes { raw in
                if let src = raw.baseAddress, raw.count > 0 { buf.copyMemory(from: src, byteCount: raw.count) }
            }
            copied = buf
            base = UnsafeRawPointer(buf)
        }
        let packed = UnsafeMutableRawPointer.allocate(byteCount: max(total, 64), alignment: 64)
        for (i, op) in ops.enumerated() where op.isQConv {
            var q = op.qconv
            let refs = plan.graph.ops[i].weights
            let w = (base + refs[0].offset).assumingMemoryBound(to: Int8.self)
            let b = (base + refs[1].offset).assumingMemoryBound(to: Int32.self)
            let rc = segc_qconv_pack(&q, op.kind == .qconvTranspose2d ? 1 : 0, w, b, packed + offsets[i])
            if rc != 0 {
                packed.deallocate()
                copied?.deallocate()
                throw SegcError(.unsupported, "cannot pack int8 convolution weights (\(rc))", at: .layer("op \(i)"))
            }
        }
        for (i, op) in ops.enumerated() where op.kind == .convTranspose2d {
            var p = op.conv
            let w = (base + plan.graph.ops[i].weights[0].offset).assumingMemoryBound(to: Float.self)
            let dst = (packed + offsets[i]).assumingMemoryBound(to: Float.self)
            let rc = segc_convt_pack(&p, w, dst)
            if rc != 0 {
                packed.deallocate()
                copied?.deallocate()
                throw SegcError(.unsupported, "cannot pack transposed convolution weights (\(rc))", at: .layer("op \(i)"))
            }
        }
        packedBase = packed
        byteCount = section + total
        packedOffsets = offsets
        keep = plan.weights
    }

    deinit {
        packedBase.deallocate()
        copied?.deallocate()
    }

    /// Drops the resident pages wholly inside `ref`'s bytes when the weights are read in place
    /// from a file mapping (read-only, private: a later read faults them back in from the
    /// file), so a weight used only through a prepared copy stops counting in the RSS.
    /// No-op for weights in memory (a copy, or a plan read from bytes), where it would zero them.
    func releaseResidentPages(of ref: WeightRef) {
        guard fileMapped else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: base + ref.offset), end = start + ref.byteCount
        let lo = (start + page - 1) / page * page, hi = end / page * page
        if hi > lo { _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, Int32(MADV_DONTNEED)) }
    }

    /// Float pointer of a weight ref (offset checked by validation).
    func pointer(_ ref: WeightRef) -> UnsafePointer<Float> {
        UnsafePointer((base + ref.offset).assumingMemoryBound(to: Float.self))
    }
}
