#!/usr/bin/env python3
"""1- and 4-channel conv nets exported from PyTorch at ONNX opsets 9, 13 and 18 (issue 17).

Writes Fixtures/channels/c{C}_opset{N}.onnx, c{C}_input.npy and c{C}_expected.npy (the
PyTorch output on that input, float32), and two_heads_opset17.onnx, a net with two graph
outputs (`seg`, `aux`) with its input and both PyTorch outputs. `ChannelOpsetTests` converts each model with
segc and compares at 1e-4 * max(1, max|ref|). The net uses ops whose ONNX form at opset 9
means the same as in PyTorch (nearest upsampling; bilinear had no exact opset-9 form).

    python3 Fixtures/channels/make_channel_nets.py
"""
import os

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class TwoHeads(nn.Module):
    """Two graph outputs (segmentation logits and an auxiliary map), as multi-head exports have."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.seg = nn.Conv2d(6, 4, 1)
        self.aux = nn.Conv2d(6, 2, 3, padding=1)

    def forward(self, x):
        f = torch.relu(self.stem(x))
        return self.seg(f), torch.sigmoid(self.aux(f))


class SmallNet(nn.Module):
    def __init__(self, cin, classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.prelu = nn.PReLU(8)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.deconv = nn.ConvTranspose2d(8, 6, 3, stride=1, padding=1)
        self.head = nn.Conv2d(6 + 8, classes, 1)

    def forward(self, x):
        # BatchNorm after the pool, not a conv: the exporter cannot fold it away, so the
        # opset's BatchNormalization form is exercised.
        a = torch.relu(self.conv1(x))
        b = self.prelu(self.conv2(self.bn1(self.pool(a))))
        b = self.deconv(self.up(b))
        y = self.head(torch.cat([b, a], 1))
        return y * torch.sigmoid(y) + y


def main():
    torch.manual_seed(17)
    for cin in (1, 4):
        net = SmallNet(cin).eval()
        with torch.no_grad():
            # Non-trivial BatchNorm statistics and PReLU slopes.
            net.bn1.running_mean.uniform_(-0.5, 0.5)
            net.bn1.running_var.uniform_(0.5, 2.0)
            net.bn1.weight.uniform_(0.5, 1.5)
            net.bn1.bias.uniform_(-0.2, 0.2)
            net.prelu.weight.uniform_(0.05, 0.3)
        x = torch.rand(1, cin, 24, 32)
        with torch.no_grad():
            y = net(x)
        np.save(os.path.join(HERE, f"c{cin}_input.npy"), x.numpy().astype(np.float32))
        np.save(os.path.join(HERE, f"c{cin}_expected.npy"), y.numpy().astype(np.float32))
        for opset in (9, 13, 18):
            path = os.path.join(HERE, f"c{cin}_opset{opset}.onnx")
            torch.onnx.export(net, (x,), path, opset_version=opset, input_names=["x"], output_names=["logits"],
                              dynamo=False)
            print(path, os.path.getsize(path))


def grey_input():
    """A 1-channel pass-through net and Pillow's grey network input for the demo image:
    convert('L'), BILINEAR resize to 32x24, /255 — what `segc run` must feed a 1-channel plan."""
    from onnx import TensorProto, helper
    import onnx
    from PIL import Image
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "grey",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 24, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 24, 32])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, os.path.join(HERE, "grey_relu.onnx"))
    img = Image.open(os.path.join(HERE, "..", "demo", "fs_static_0.jpg")).convert("L").resize((32, 24), Image.BILINEAR)
    np.save(os.path.join(HERE, "grey_fs_static_0.npy"), (np.asarray(img, dtype=np.float32) / 255)[None, None])


def two_heads():
    torch.manual_seed(18)
    net = TwoHeads().eval()
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        seg, aux = net(x)
    np.save(os.path.join(HERE, "two_heads_input.npy"), x.numpy())
    np.save(os.path.join(HERE, "two_heads_seg.npy"), seg.numpy())
    np.save(os.path.join(HERE, "two_heads_aux.npy"), aux.numpy())
    path = os.path.join(HERE, "two_heads_opset17.onnx")
    torch.onnx.export(net, (x,), path, opset_version=17, input_names=["x"], output_names=["seg", "aux"], dynamo=False)
    print(path, os.path.getsize(path))


if __name__ == "__main__":
    grey_input()
    two_heads()
    main()
