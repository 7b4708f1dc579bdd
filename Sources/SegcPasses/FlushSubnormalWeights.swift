import SegcCore
import SegcIR

/// Stores every subnormal float32 constant (|x| < 2⁻¹²⁶, not 0) as 0.
///
/// Why: on x86 a multiply or FMA that reads a subnormal operand takes a microcode assist
/// (measured on this project's Sapphire Rapids: a `vfmadd` loop with a subnormal broadcast
/// weight ran ~75x slower), and a GEMM repeats each weight's multiplies once per output
/// pixel. BatchNorm folding makes them: a channel whose BN scale is tiny gets its conv
/// weights scaled into the subnormal range (ERFNet's checkpoint: 482 such weights after
/// folding). Their contribution is below one ulp of any normal output, so the function is
/// unchanged for every practical purpose; the plan and the reference interpreter then use
/// the same (flushed) weights, so runtime and interpreter still agree bit for bit.
package struct FlushSubnormalWeights: GraphPass {
    package let name = "flush-subnormal-weights"
    package init() {}

    package func run(_ graph: inout Graph) throws(SegcError) {
        for (id, t) in graph.constants where t.dtype == .f32 {
            let values = t.floats()
            guard values.contains(where: { $0.isSubnormal }) else { continue }
            graph.constants[id] = Tensor(values.map(Self.flushed), shape: t.shape)
        }
    }

    /// `x`, or 0 where it is subnormal. Also used where weights are made after the passes
    /// (`prune --calib`'s least-squares refit).
    package static func flushed(_ x: Float) -> Float { x.isSubnormal ? 0 : x }
}
