import SegcCore
import SegcIR

/// A state dict as builders see it: tensors by key, with a record of which keys
/// a builder consumed (so unused and unexpected keys can be reported).
///
/// In *probe* mode a missing key or a wrong shape is not an error: it is recorded
/// and a zero tensor of the expected shape is returned, so every builder can be
/// run against any state dict to find the closest layout (product.md §2.6).
package final class StateDict {
    package let file: String
    package private(set) var tensors: [String: Tensor]
    package let order: [String]
    package private(set) var used: Set<String> = []
    package let probe: Bool
    package private(set) var missing: [String] = []
    package private(set) var mismatched: [String] = []

    package init(file: String, entries: [(String, Tensor)], probe: Bool = false) {
        self.file = file
        var t: [String: Tensor] = [:]
        for (k, v) in entries { t[k] = v }
        tensors = t
        order = entries.map(\.0)
        self.probe = probe
    }

    package func has(_ key: String) -> Bool { tensors[key] != nil }
    package func shape(_ key: String) -> [Int]? { tensors[key]?.shape }

    /// The tensor at `key`, which must have `shape` (nil entries match any size).
    package func tensor(_ key: String, _ shape: [Int?]) throws(SegcError) -> Tensor {
        guard let t = tensors[key] else {
            if probe {
                missing.append(key)
                return Tensor([Float](repeating: 0, count: shape.reduce(1) { $0 * ($1 ?? 1) }), shape: shape.map { $0 ?? 1 })
            }
            throw SegcError(.mismatch, "missing tensor (expected shape \(Self.format(shape)))", file: file, at: .key(key))
        }
        used.insert(key)
        let ok = t.shape.count == shape.count && zip(t.shape, shape).allSatisfy { $1 == nil || $0 == $1 }
        if !ok {
            if probe {
                mismatched.append(key)
                return Tensor([Float](repeating: 0, count: shape.reduce(1) { $0 * ($1 ?? 1) }), shape: shape.map { $0 ?? 1 })
            }
            throw SegcError(.mismatch, "shape \(t.shape) does not match the expected \(Self.format(shape))",
                            file: file, at: .key(key))
        }
        return t
    }

    /// The tensor as float32 (dequantized / narrowed), contiguous.
    package func floats(_ key: String, _ shape: [Int?]) throws(SegcError) -> Tensor {
        let t = try tensor(key, shape)
        if t.dtype == .f32 && t.quant == nil { return t }
        return Tensor(t.floats(), shape: t.shape)
    }

    /// Marks keys as consumed without reading them (bookkeeping entries such as
    /// `num_batches_tracked` or FX activation qparams).
    package func touch(_ key: String) {
        if tensors[key] != nil { used.insert(key) }
    }

    package var unusedKeys: [String] { order.filter { !used.contains($0) } }

    private static func format(_ s: [Int?]) -> String {
        "[" + s.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
    }
}
