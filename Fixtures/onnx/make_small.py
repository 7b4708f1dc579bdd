#!/usr/bin/env python3
"""Small hand-made ONNX files for SegcONNXTests (committed, a few KB each).

    python3 Fixtures/onnx/make_small.py

- ops_opset{11,17,18}.onnx: Conv, Sigmoid, ReduceMean, Mul, AveragePool,
  GlobalAveragePool, Add, Div, Sub, Relu, PRelu (slope via Unsqueeze), Resize
  (nearest asymmetric scales; linear align_corners / half_pixel sizes computed by
  Shape/Slice/Concat/Cast), Pad, MaxPool (pads, ceil), Identity, Dropout, Softmax
  (opsets >= 13), ConvTranspose (output_padding); input ops_input.npy, expected
  output ops_opsetNN_expected.npy from ONNX Runtime.
- unsupported.onnx: a GridSample and a Resize with the opset-11 coordinate mode
  tf_half_pixel_for_nn (both must be reported).
- external_offset.onnx(.data): a weight whose external offset lies past the end.
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(0)


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def ops_model(opset):
    W1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3
    B1 = rng.standard_normal(8).astype(np.float32) * 0.1
    W2 = rng.standard_normal((5, 8, 1, 1)).astype(np.float32) * 0.3
    WT = rng.standard_normal((8, 4, 3, 3)).astype(np.float32) * 0.3
    slope = (rng.standard_normal(8) * 0.2).astype(np.float32)
    inits = [const("W1", W1), const("B1", B1), const("W2", W2), const("WT", WT), const("slope", slope),
             const("one5", np.array(1.5, np.float32)), const("tenth", np.array(0.1, np.float32)),
             const("scales2", np.array([1, 1, 2, 2], np.float32)), const("hw", np.array([16, 32], np.int64)),
             const("s0", np.array([0], np.int64)), const("s2", np.array([2], np.int64)),
             const("pads", np.array([0, 0, 1, 2, 0, 0, 1, 0], np.int64)), const("ax12", np.array([1, 2], np.int64)),
             const("ax23", np.array([2, 3], np.int64)), const("empty", np.zeros(0, np.float32))]
    n = []
    n.append(helper.make_node("Conv", ["input", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]))
    n.append(helper.make_node("Sigmoid", ["c1"], ["sg"]))
    if opset >= 18:
        n.append(helper.make_node("ReduceMean", ["sg", "ax23"], ["g"], keepdims=1))
    else:
        n.append(helper.make_node("ReduceMean", ["sg"], ["g"], axes=[2, 3], keepdims=1))
    n.append(helper.make_node("Mul", ["c1", "g"], ["m"]))
    n.append(helper.make_node("AveragePool", ["m"], ["a"], kernel_shape=[2, 2], strides=[2, 2]))
    n.append(helper.make_node("GlobalAveragePool", ["a"], ["gap"]))
    n.append(helper.make_node("Add", ["gap", "one5"], ["gap1"]))
    n.append(helper.make_node("Div", ["a", "gap1"], ["d"]))
    roi = "empty" if opset < 13 else ""
    n.append(helper.make_node("Resize", ["d", roi, "scales2"], ["r1"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
    n.append(helper.make_node("Identity", ["r1"], ["r1i"]))
    # sizes = Concat(Shape(c1)[0:2], [16, 32]) as float → Cast to int64
    n.append(helper.make_node("Shape", ["c1"], ["shp"]))
    n.append(helper.make_node("Slice", ["shp", "s0", "s2"], ["nc"]))
    n.append(helper.make_node("Concat", ["nc", "hw"], ["sizes_i"], axis=0))
    n.append(helper.make_node("Cast", ["sizes_i"], ["sizes_f"], to=TensorProto.FLOAT))
    n.append(helper.make_node("Cast", ["sizes_f"], ["sizes"], to=TensorProto.INT64))
    n.append(helper.make_node("Resize", ["r1i", roi, "empty", "sizes"], ["r2"], mode="linear",
                              coordinate_transformation_mode="align_corners"))
    n.append(helper.make_node("Sub", ["r2", "tenth"], ["q0"]))
    n.append(helper.make_node("Relu", ["q0"], ["q"]))
    if opset >= 13:
        n.append(helper.make_node("Unsqueeze", ["slope", "ax12"], ["slope3"]))
    else:
        n.append(helper.make_node("Unsqueeze", ["slope"], ["slope3"], axes=[1, 2]))
    n.append(helper.make_node("PRelu", ["r2", "slope3"], ["pr"]))
    n.append(helper.make_node("Pad", ["r1i", "pads"], ["p"], mode="constant"))
    n.append(helper.make_node("MaxPool", ["p"], ["mp"], kernel_shape=[3, 3], strides=[1, 1], pads=[0, 0, 0, 1]))
    n.append(helper.make_node("Resize", ["mp", roi, "empty", "sizes"], ["mpr"], mode="linear",
                              coordinate_transformation_mode="half_pixel"))
    n.append(helper.make_node("Add", ["q", "mpr"], ["s1"]))
    n.append(helper.make_node("Add", ["s1", "pr"], ["s2o"]))
    n.append(helper.make_node("Dropout", ["s2o"], ["s3"]))
    n.append(helper.make_node("ConvTranspose", ["d", "WT"], ["ct"], strides=[2, 2], pads=[1, 1, 1, 1],
                              output_padding=[1, 1]))
    n.append(helper.make_node("Conv", ["s3", "W2"], ["lg"]))
    if opset >= 13:
        n.append(helper.make_node("Softmax", ["lg"], ["logits"], axis=1))
    else:
        n.append(helper.make_node("Identity", ["lg"], ["logits"]))
    g = helper.make_graph(n, f"ops{opset}", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 32])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5, 16, 32]),
                           helper.make_tensor_value_info("ct", TensorProto.FLOAT, [1, 4, 8, 16])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="segc-fixture")
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


def main():
    import onnxruntime as ort

    x = rng.random((1, 3, 16, 32), dtype=np.float32)
    np.save(HERE / "ops_input.npy", x)
    for opset in (11, 17, 18):
        m = ops_model(opset)
        p = HERE / f"ops_opset{opset}.onnx"
        onnx.save(m, p)
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        y = s.run(["logits"], {"input": x})[0]
        np.save(HERE / f"ops_opset{opset}_expected.npy", y.astype(np.float32))

    # unsupported ops
    W = const("W", np.ones((2, 3, 1, 1), np.float32))
    grid = const("grid", np.zeros((1, 4, 4, 2), np.float32))
    sc = const("sc", np.array([1, 1, 2, 2], np.float32))
    nodes = [helper.make_node("Conv", ["input", "W"], ["c"], name="/stem/Conv"),
             helper.make_node("GridSample", ["c", "grid"], ["gs"], name="/head/GridSample"),
             helper.make_node("Resize", ["gs", "", "sc"], ["logits"], mode="linear",
                              coordinate_transformation_mode="tf_half_pixel_for_nn", name="/up/Resize")]
    g = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2, 8, 8])], [W, grid, sc])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, HERE / "unsupported.onnx")

    # external data offset past the end of the .data file
    W = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "W")
    W.data_location = TensorProto.EXTERNAL
    W.ClearField("raw_data")
    for k, v in (("location", "external_offset.onnx.data"), ("offset", "4096"), ("length", "24")):
        e = W.external_data.add()
        e.key, e.value = k, v
    (HERE / "external_offset.onnx.data").write_bytes(np.ones(6, np.float32).tobytes())
    nodes = [helper.make_node("Conv", ["input", "W"], ["logits"])]
    g = helper.make_graph(nodes, "ext", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2, 4, 4])], [W])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, HERE / "external_offset.onnx")


if __name__ == "__main__":
    main()
