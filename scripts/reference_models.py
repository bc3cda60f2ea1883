"""PyTorch twins of semipoison's models, parameter for parameter and name for name.

Used once to compute committed test fixtures (scripts/make_fixtures.py) and by `make bench` to time
PyTorch side by side with the TypeScript engine. The product never runs Python.
"""
import json
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3  # the TF reference's batch_normalization epsilon


class ResidualUnit(nn.Module):
    """FixMatch libml/models.py residual unit (pre-activation, activate_before_residual)."""

    def __init__(self, cin, cout, stride, activate_before_residual, bn_momentum):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, momentum=bn_momentum, eps=BN_EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, momentum=bn_momentum, eps=BN_EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if cin != cout else None
        self.abr = activate_before_residual

    def forward(self, x0):
        a = F.leaky_relu(self.bn1(x0), 0.1)
        skip_in = a if self.abr else x0
        h = self.conv2(F.leaky_relu(self.bn2(self.conv1(a)), 0.1))
        skip = self.shortcut(skip_in) if self.shortcut is not None else skip_in
        return skip + h


class WideResNet(nn.Module):
    def __init__(self, num_classes=10, in_channels=3, filters=32, repeat=4, scales=3, bn_momentum=0.001):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        c = 16
        self.unit_names = []
        for s in range(scales):
            out = filters << s
            for i in range(repeat):
                name = f"unit{s}_{i}"
                unit = ResidualUnit(c if i == 0 else out, out, 2 if (i == 0 and s > 0) else 1, s == 0 and i == 0, bn_momentum)
                self.add_module(name, unit)
                self.unit_names.append(name)
            c = out
        self.bn = nn.BatchNorm2d(c, momentum=bn_momentum, eps=BN_EPS)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        y = self.stem(x)
        for n in self.unit_names:
            y = getattr(self, n)(y)
        y = F.leaky_relu(self.bn(y), 0.1).mean([2, 3])
        return self.fc(y)


class SmallCnn(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, width=32, bn_momentum=0.001):
        super().__init__()
        w = width

        def block(i, o):
            return [nn.Conv2d(i, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o, momentum=bn_momentum, eps=BN_EPS), nn.LeakyReLU(0.1)]

        self.body = nn.Sequential(
            *block(in_channels, w), *block(w, w), nn.MaxPool2d(2),
            *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
            *block(2 * w, 4 * w), GlobalAvgPool(),
        )
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        return self.fc(self.body(x))


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean([2, 3])


def decay_groups(model):
    """Conv and dense kernels get weight decay; biases and BatchNorm do not (as the TS models)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_kernel = name.endswith("weight") and p.dim() > 1
        (decay if is_kernel else no_decay).append(p)
    return [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}]


def state_for_export(model):
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


_CODES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8",
          torch.bool: "BOOL", torch.bfloat16: "BF16", torch.float16: "F16"}


def save_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer (the format is a JSON header plus raw little-endian bytes)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": _CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":"))
    h += " " * ((8 - len(h.encode()) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h.encode())))
        f.write(h.encode())
        for b in blobs:
            f.write(b)
