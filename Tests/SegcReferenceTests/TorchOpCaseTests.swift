import Foundation
import SegcCore
import SegcIR
import SegcReference
import XCTest

/// Compares the interpreter with PyTorch on the cases written by
/// `Fixtures/ops/make_op_cases.py` (`Fixtures/ops/op_cases.json`).
final class TorchOpCaseTests: XCTestCase {
    struct TensorCase: Decodable {
        var shape: [Int]
        var data: [Double]
    }

    struct Case: Decodable {
        var op: String
        var attrs: [String: [Int]]
        var sattrs: [String: String]
        var tensors: [String: TensorCase]
        var expected: [TensorCase]
    }

    struct File: Decodable {
        var cases: [Case]
    }

    func loadCases() throws -> [Case] {
        let path = packageRoot() + "/Fixtures/ops/op_cases.json"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(File.self, from: data).cases
    }

    func testAgainstPyTorch() throws {
        let cases = try loadCases()
        XCTAssertGreaterThan(cases.count, 50)
        var counts: [String: Int] = [:]
        for (k, c) in cases.enumerated() {
            let what = "case \(k) \(c.op) \(c.attrs) \(c.sattrs)"
            let ys = try run(c)
            XCTAssertEqual(ys.count, c.expected.count, what)
            for (y, e) in zip(ys, c.expected) {
                assertClose(y, e.data.map { Float($0) }, tol: 1e-5, what)
            }
            counts[c.op, default: 0] += 1
        }
        for op in ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "max_unpool2d", "resize",
                   "batch_norm", "prelu", "softmax", "add", "mul", "sub", "div", "global_average_pool", "sigmoid"] {
            XCTAssertNotNil(counts[op], "no case for \(op)")
        }
    }

    func run(_ c: Case) throws -> [[Float]] {
        var t = OneNode()
        func tensor(_ name: String) throws -> TensorCase {
            guard let v = c.tensors[name] else { throw XCTSkip("case lacks tensor \(name)") }
            return v
        }
        func input(_ name: String) throws {
            let v = try tensor(name); t.input(name, v.shape, v.data.map { Float($0) })
        }
        func const(_ name: String) throws {
            let v = try tensor(name); t.const(name, v.shape, v.data.map { Float($0) })
        }
        func pair(_ key: String) -> (Int, Int) {
            let a = c.attrs[key] ?? [1, 1]
            return (a[0], a[1])
        }
        func pads(_ p: inout (Int, Int, Int, Int)) { let a = c.attrs["pad"] ?? [0, 0, 0, 0]; p = (a[0], a[1], a[2], a[3]) }
        let flag = { (k: String) in (c.attrs[k]?.first ?? 0) != 0 }

        let op: Op
        switch c.op {
        case "conv2d", "conv_transpose2d":
            try input("x"); try const("w")
            if flag("bias") { try const("b") }
            var epi = Epilogue.none
            if let a = c.sattrs["activation"] {
                epi.activation = Activation(rawValue: a) ?? .none
                if epi.activation == .prelu { try const("slope") }
            }
            if c.sattrs["residual"] != nil { epi.residual = true; try input("residual") }
            let k = pair("k")
            var p = (0, 0, 0, 0)
            pads(&p)
            if c.op == "conv2d" {
                var a = Conv2d(kh: k.0, kw: k.1, stride: pair("stride"), dilation: pair("dil"),
                               groups: c.attrs["groups"]?.first ?? 1, hasBias: flag("bias"))
                (a.padTop, a.padLeft, a.padBottom, a.padRight) = p
                a.epilogue = epi
                op = .conv2d(a)
            } else {
                var a = ConvTranspose2d(kh: k.0, kw: k.1, stride: pair("stride"), padding: (0, 0),
                                        outputPadding: c.attrs["outpad"].map { ($0[0], $0[1]) } ?? (0, 0),
                                        dilation: pair("dil"), groups: c.attrs["groups"]?.first ?? 1, hasBias: flag("bias"))
                (a.padTop, a.padLeft, a.padBottom, a.padRight) = p
                a.epilogue = epi
                op = .convTranspose2d(a)
            }
        case "max_pool2d", "avg_pool2d":
            try input("x")
            let k = pair("k"), s = pair("stride"), d = pair("dil")
            var p = Pool2d(kernel: k.0, stride: s.0, ceilMode: flag("ceil"), returnsIndices: c.op == "max_pool2d")
            p.kw = k.1; p.strideW = s.1; p.dilationH = d.0; p.dilationW = d.1
            var pd = (0, 0, 0, 0)
            pads(&pd)
            (p.padTop, p.padLeft, p.padBottom, p.padRight) = pd
            p.countIncludePad = flag("cip")
            op = c.op == "max_pool2d" ? .maxPool2d(p) : .avgPool2d(p)
        case "max_unpool2d":
            try input("x")
            let i = try tensor("indices")
            t.constI64("indices", i.shape, i.data.map { Int64($0) })
            let o = pair("out")
            op = .maxUnpool2d(MaxUnpool2d(outputH: o.0, outputW: o.1))
        case "resize":
            try input("x")
            let o = pair("out")
            guard let mode = Resize.Mode(rawValue: c.sattrs["mode"] ?? ""),
                  let coords = Resize.Coordinates(rawValue: c.sattrs["coords"] ?? "") else {
                XCTFail("bad resize case \(c.sattrs)"); return []
            }
            let rounding = Resize.NearestRounding(rawValue: c.sattrs["rounding"] ?? "floor") ?? .floor
            op = .resize(Resize(mode: mode, coordinates: coords, nearest: rounding, outputH: o.0, outputW: o.1))
        case "batch_norm":
            try input("x")
            for n in ["scale", "bias", "mean", "var"] { try const(n) }
            op = .batchNorm(BatchNorm(epsilon: Float(c.sattrs["eps"] ?? "") ?? 1e-5))
        case "prelu":
            try input("x"); try const("slope"); op = .prelu
        case "sigmoid":
            try input("x"); op = .sigmoid
        case "softmax":
            try input("x"); op = .softmax(axis: c.attrs["axis"]?.first ?? 1)
        case "global_average_pool":
            try input("x"); op = .globalAveragePool
        case "add", "sub", "mul", "div":
            try input("a"); try const("b")
            op = ["add": Op.add, "sub": .sub, "mul": .mul, "div": .div][c.op] ?? .add
        default:
            XCTFail("unknown op \(c.op)"); return []
        }
        let ys = try t.run(op)
        for (k, e) in c.expected.enumerated() where k < ys.count {
            XCTAssertEqual(t.shape(k), e.shape, "\(c.op) output \(k) shape")
        }
        return ys
    }
}
