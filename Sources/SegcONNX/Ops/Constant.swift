import SegcCore
import SegcIR

/// ONNX `Constant` (value, value_float(s), value_int(s)).
enum ConstantImporter {
    static let entry = OpImporter("Constant", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let a = ctx.node.attrs
        if case .t(let t)? = a["value"] { ctx.set(0, .const(t)); return }
        if case .f(let f)? = a["value_float"] { ctx.set(0, .const(Tensor([f], shape: []))); return }
        if case .floats(let f)? = a["value_floats"] { ctx.set(0, .const(Tensor(f, shape: [f.count]))); return }
        if case .i(let i)? = a["value_int"] { ctx.set(0, .const(Tensor(dtype: .i64, shape: [], storage: .i64([i])))); return }
        if case .ints(let i)? = a["value_ints"] {
            ctx.set(0, .const(Tensor(dtype: .i64, shape: [i.count], storage: .i64(i)))); return
        }
        throw ctx.unsupported("Constant with attribute \(a.keys.sorted().joined(separator: ","))")
    }
}
