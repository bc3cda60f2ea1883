"""Reference losses of the SSL algorithms on a fixed tiny batch, computed once with PyTorch.

Run: /usr/bin/python3 scripts/make_ssl_fixtures.py. The test (test/ssl/algorithms.test.ts) builds the
same MLP from these weights and the same deterministic augmentations: weak(x) = x + 0.05·k at its
k-th call (k = 1, 2, ...), strong(x) = 0.5·flip(x) along the width. The formulas follow the
google-research/fixmatch implementations of each method.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from reference_models import save_safetensors  # noqa: E402

torch.manual_seed(99)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "ssl.safetensors")


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))


def state(m, prefix):
    # TS Mlp names: body.0 (Linear), fc (Linear)
    return {f"{prefix}body.0.weight": m[1].weight, f"{prefix}body.0.bias": m[1].bias,
            f"{prefix}fc.weight": m[3].weight, f"{prefix}fc.bias": m[3].bias}


class Aug:
    def __init__(self):
        self.k = 0

    def weak(self, x):
        self.k += 1
        return x + 0.05 * self.k

    @staticmethod
    def strong(x):
        return 0.5 * torch.flip(x, [3])


model, teacher = mlp(), mlp()
xl = torch.rand(4, 1, 4, 4)
yl = torch.tensor([0, 1, 2, 3])
xu = torch.rand(6, 1, 4, 4) * 12  # spread inputs so that some predictions are confident
PROGRESS = 0.2


def ce_soft(logits, target):
    return -(target * F.log_softmax(logits, 1)).sum(1)


def fixmatch(p):
    a = Aug()
    lx = F.cross_entropy(model(a.weak(xl)), yl)
    lw = model(a.weak(xu)).detach()
    ls = model(a.strong(xu))
    probs = lw.softmax(1)
    mask = (probs.max(1).values >= p["threshold"]).float()
    lu = (F.cross_entropy(ls, probs.argmax(1), reduction="none") * mask).mean()
    return lx + p["wu"] * lu, lu


def uda(p):
    a = Aug()
    lx = F.cross_entropy(model(a.weak(xl)), yl)
    lw = model(a.weak(xu)).detach()
    ls = model(a.strong(xu))
    target = (lw / p["temperature"]).softmax(1)
    mask = (lw.softmax(1).max(1).values >= p["confidence"]).float()
    lu = (ce_soft(ls, target) * mask).mean()
    return lx + p["wu"] * lu, lu


def pseudo_label(p):
    a = Aug()
    lx = F.cross_entropy(model(a.weak(xl)), yl)
    lu_logits = model(a.weak(xu))
    probs = lu_logits.detach().softmax(1)
    mask = (probs.max(1).values >= p["threshold"]).float()
    lu = (F.cross_entropy(lu_logits, probs.argmax(1), reduction="none") * mask).mean()
    return lx + p["wu"] * min(1, PROGRESS / p["warmup"]) * lu, lu


def pi_model(p):
    a = Aug()
    lx = F.cross_entropy(model(a.weak(xl)), yl)
    l1 = model(a.weak(xu))
    l2 = model(a.weak(xu))
    lu = F.mse_loss(l1.softmax(1), l2.detach().softmax(1))
    return lx + p["wu"] * min(1, PROGRESS / p["warmup"]) * lu, lu


def mean_teacher(p):
    a = Aug()
    lx = F.cross_entropy(model(a.weak(xl)), yl)
    lu_logits = model(a.weak(xu))
    with torch.no_grad():
        target = teacher(a.weak(xu)).softmax(1)
    lu = F.mse_loss(lu_logits.softmax(1), target)
    return lx + p["wu"] * min(1, PROGRESS / p["warmup"]) * lu, lu


def supervised(p):
    a = Aug()
    lx = F.cross_entropy(model(a.weak(xl)), yl)
    return lx, torch.zeros(())


CASES = {
    "fixmatch": (fixmatch, {"threshold": 0.5, "wu": 1.0}),
    "uda": (uda, {"confidence": 0.5, "temperature": 0.4, "wu": 1.0}),
    "pseudo_label": (pseudo_label, {"threshold": 0.5, "wu": 1.0, "warmup": 0.4}),
    "pi_model": (pi_model, {"wu": 10.0, "warmup": 0.4}),
    "mean_teacher": (mean_teacher, {"wu": 50.0, "warmup": 0.4}),
    "supervised": (supervised, {}),
}

out = {**state(model, "model."), **state(teacher, "teacher."), "xl": xl, "yl": yl, "xu": xu}
for name, (fn, params) in CASES.items():
    model.zero_grad()
    loss, lu = fn(params)
    loss.backward()
    out[f"{name}.loss"] = loss.detach().reshape(1)
    out[f"{name}.loss_u"] = lu.detach().reshape(1)
    out[f"{name}.grad_fc"] = model[3].weight.grad.clone()
save_safetensors(OUT, {k: v.detach() for k, v in out.items()})
print({k: float(v) for k, v in out.items() if k.endswith("loss_u")})
