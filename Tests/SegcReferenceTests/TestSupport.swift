import SegcCore
import SegcIR
import SegcReference
import XCTest

/// Builds a one-node graph: `x` (and optionally more) as graph inputs, the rest as constants.
struct OneNode {
    var graph = Graph()
    var inputs: [[Float]] = []
    var operands: [ValueID] = []

    mutating func input(_ name: String, _ shape: [Int], _ data: [Float]) {
        operands.append(graph.addInput(name, ValueType(.f32, shape)))
        inputs.append(data)
    }

    mutating func const(_ name: String, _ shape: [Int], _ data: [Float]) {
        operands.append(graph.addConstant(name, Tensor(data, shape: shape)))
    }

    mutating func constI64(_ name: String, _ shape: [Int], _ data: [Int64]) {
        operands.append(graph.addConstant(name, Tensor(dtype: .i64, shape: shape, storage: .i64(data))))
    }

    /// Adds the node, marks all its outputs as graph outputs, runs the interpreter.
    mutating func run(_ op: Op, file: StaticString = #filePath, line: UInt = #line) throws -> [[Float]] {
        let outs = try graph.add(op, operands, name: "node")
        graph.outputs = outs
        try graph.verify()
        return try ReferenceInterpreter.run(graph, inputs: inputs)
    }

    func shape(_ k: Int) -> [Int] { graph.type(of: graph.outputs[k]).shape }
}

func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-5, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count \(message)", file: file, line: line)
    guard a.count == b.count else { return }
    let scale = max(1, b.map { abs($0) }.max() ?? 0)
    for i in 0..<a.count where !(abs(a[i] - b[i]) <= tol * scale) {
        XCTFail("element \(i): \(a[i]) vs \(b[i]) \(message)", file: file, line: line)
        return
    }
}

/// Deterministic pseudo-random floats in [-1, 1).
struct LCG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
    }
    mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
}

/// The package root (…/Tests/SegcReferenceTests/TestSupport.swift → …).
func packageRoot(_ path: String = #filePath) -> String {
    var parts = path.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}
