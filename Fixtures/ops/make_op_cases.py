#!/usr/bin/env python3
"""Writes Fixtures/ops/op_cases.json: small PyTorch-computed cases for the
reference interpreter tests (Tests/SegcReferenceTests/TorchOpCaseTests.swift).

Every case: {"op", "attrs": {name: [ints]}, "sattrs": {name: str},
"tensors": {name: {"shape", "data"}}, "expected": [{"shape", "data"}]}.
Float32 values are written with 9 significant digits (exact round trip).
Deterministic: fixed seed. Run from anywhere: python3 make_op_cases.py
"""
import json
import os
import random

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
random.seed(1234)
cases = []


def t(x):
    x = x.detach().contiguous()
    if x.dtype == torch.int64:
        return {"shape": list(x.shape), "data": [int(v) for v in x.flatten().tolist()]}
    return {"shape": list(x.shape), "data": [float("%.9g" % v) for v in x.float().flatten().tolist()]}


def add(op, attrs, tensors, expected, sattrs=None):
    cases.append({"op": op, "attrs": attrs, "sattrs": sattrs or {},
                  "tensors": {k: t(v) for k, v in tensors.items()},
                  "expected": [t(e) for e in expected]})


R = random.randint

# conv2d: groups, stride, dilation, asymmetric padding (F.pad then conv), bias
for i in range(14):
    g = random.choice([1, 1, 2, 3])
    cin = g * R(1, 3)
    cout = g * R(1, 3)
    kh, kw = R(1, 3), R(1, 3)
    sh, sw = R(1, 3), R(1, 2)
    dh, dw = R(1, 2), R(1, 2)
    pt, pl, pb, pr = R(0, 2), R(0, 2), R(0, 2), R(0, 2)
    if i % 3 == 0:
        pb, pr = pt, pl
    n = R(1, 2)
    h = R(dh * (kh - 1) + 1, 8)
    w = R(dw * (kw - 1) + 1, 9)
    x = torch.randn(n, cin, h, w)
    wt = torch.randn(cout, cin // g, kh, kw)
    b = torch.randn(cout) if i % 2 == 0 else None
    y = F.conv2d(F.pad(x, (pl, pr, pt, pb)), wt, b, (sh, sw), 0, (dh, dw), g)
    tensors = {"x": x, "w": wt}
    if b is not None:
        tensors["b"] = b
    add("conv2d", {"k": [kh, kw], "stride": [sh, sw], "pad": [pt, pl, pb, pr], "dil": [dh, dw], "groups": [g],
                   "bias": [int(b is not None)]}, tensors, [y])

# conv2d with epilogue: bias + residual + relu / prelu
for act in ["relu", "prelu", "prelu1"]:
    x = torch.randn(1, 3, 6, 7)
    wt = torch.randn(4, 3, 3, 3)
    b = torch.randn(4)
    res = torch.randn(1, 4, 6, 7)
    slope = torch.rand(4 if act == "prelu" else 1)
    z = F.conv2d(x, wt, b, 1, 1) + res
    y = F.relu(z) if act == "relu" else F.prelu(z, slope)
    tensors = {"x": x, "w": wt, "b": b, "residual": res}
    if act != "relu":
        tensors["slope"] = slope
    add("conv2d", {"k": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1], "dil": [1, 1], "groups": [1], "bias": [1]},
        tensors, [y], {"activation": "relu" if act == "relu" else "prelu", "residual": "yes"})

# conv_transpose2d: stride, padding, output padding, dilation, groups, bias
for i in range(12):
    g = random.choice([1, 1, 2])
    cin = g * R(1, 3)
    cout = g * R(1, 3)
    kh, kw = R(1, 4), R(1, 4)
    sh, sw = R(1, 3), R(1, 3)
    dh, dw = R(1, 2), R(1, 2)
    ph, pw = R(0, (kh - 1) * dh), R(0, (kw - 1) * dw)
    oph, opw = R(0, max(sh, dh) - 1), R(0, max(sw, dw) - 1)
    n = R(1, 2)
    h, w = R(1, 5), R(1, 6)
    x = torch.randn(n, cin, h, w)
    wt = torch.randn(cin, cout // g, kh, kw)
    b = torch.randn(cout) if i % 2 == 1 else None
    y = F.conv_transpose2d(x, wt, b, (sh, sw), (ph, pw), (oph, opw), g, (dh, dw))
    tensors = {"x": x, "w": wt}
    if b is not None:
        tensors["b"] = b
    add("conv_transpose2d", {"k": [kh, kw], "stride": [sh, sw], "pad": [ph, pw, ph, pw], "outpad": [oph, opw],
                             "dil": [dh, dw], "groups": [g], "bias": [int(b is not None)]}, tensors, [y])

# max_pool2d with indices; integer-valued inputs so ties are frequent
for i in range(12):
    k = R(1, 3)
    s = R(1, 3)
    p = R(0, k // 2)
    d = R(1, 2) if i % 3 == 0 else 1
    ceil = bool(i % 2)
    h, w = R(d * (k - 1) + 1, 9), R(d * (k - 1) + 1, 9)
    x = torch.randint(-3, 4, (R(1, 2), R(1, 3), h, w)).float()
    if i == 0:
        x = torch.full((1, 1, 5, 5), 2.0)
    y, idx = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    add("max_pool2d", {"k": [k, k], "stride": [s, s], "pad": [p, p, p, p], "dil": [d, d], "ceil": [int(ceil)]},
        {"x": x}, [y, idx])

# avg_pool2d (dilation 1): count_include_pad and ceil mode
for i in range(8):
    k = R(1, 3)
    s = R(1, 3)
    p = R(0, k // 2)
    ceil = bool(i % 2)
    cip = bool((i // 2) % 2)
    x = torch.randn(1, 2, R(k, 8), R(k, 8))
    y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    add("avg_pool2d", {"k": [k, k], "stride": [s, s], "pad": [p, p, p, p], "ceil": [int(ceil)], "cip": [int(cip)]},
        {"x": x}, [y])

# max_unpool2d from pooled indices
for i in range(3):
    x = torch.randn(1, 2, 6, 7)
    y, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    out = F.max_unpool2d(y, idx, 2, 2, output_size=(6, 7))
    add("max_unpool2d", {"out": [6, 7]}, {"x": y, "indices": idx}, [out])

# interpolate
for i, (mode, ac) in enumerate([("bilinear", False), ("bilinear", True), ("nearest", None), ("nearest-exact", None)] * 3):
    h, w = R(1, 6), R(1, 6)
    oh, ow = R(1, 11), R(1, 11)
    if i >= 8:
        oh, ow = 2 * h, 2 * w
    x = torch.randn(1, 2, h, w)
    kw_ = {"align_corners": ac} if ac is not None else {}
    y = F.interpolate(x, size=(oh, ow), mode=mode, **kw_)
    if mode == "bilinear":
        s = {"mode": "linear", "coords": "align_corners" if ac else "pytorch_half_pixel"}
    elif mode == "nearest":
        s = {"mode": "nearest", "coords": "asymmetric", "rounding": "floor"}
    else:
        s = {"mode": "nearest", "coords": "half_pixel", "rounding": "round_prefer_ceil"}
    add("resize", {"out": [oh, ow]}, {"x": x}, [y], s)

# batch norm (eval)
for eps in [1e-3, 1e-5]:
    x = torch.randn(2, 3, 4, 5)
    m, v = torch.randn(3), torch.rand(3) + 0.1
    wgt, b = torch.randn(3), torch.randn(3)
    y = F.batch_norm(x, m, v, wgt, b, False, 0.0, eps)
    add("batch_norm", {}, {"x": x, "scale": wgt, "bias": b, "mean": m, "var": v}, [y], {"eps": repr(eps)})

# prelu per-channel and scalar, sigmoid, softmax, global average pool, broadcasting
x = torch.randn(2, 3, 4, 5)
for slope in [torch.rand(3), torch.rand(1)]:
    add("prelu", {}, {"x": x, "slope": slope}, [F.prelu(x, slope)])
add("sigmoid", {}, {"x": x * 4}, [torch.sigmoid(x * 4)])
for axis in [1, 3]:
    add("softmax", {"axis": [axis]}, {"x": x}, [torch.softmax(x, axis)])
add("global_average_pool", {}, {"x": x}, [x.mean(dim=(2, 3), keepdim=True)])
for bshape in [(1, 3, 1, 1), (5,), (2, 1, 4, 1), (3, 1, 1)]:
    b = torch.randn(*bshape)
    add("add", {}, {"a": x, "b": b}, [x + b])
    add("mul", {}, {"a": x, "b": b}, [x * b])
    add("sub", {}, {"a": b, "b": x}, [b - x])
    add("div", {}, {"a": x, "b": b + 3}, [x / (b + 3)])

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "op_cases.json")
with open(out, "w") as f:
    json.dump({"generator": "make_op_cases.py", "torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print(out, len(cases), "cases", os.path.getsize(out), "bytes")
