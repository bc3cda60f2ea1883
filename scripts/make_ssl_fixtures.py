"""Reference losses of the SSL algorithms on a fixed tiny batch, computed once with PyTorch.

Run: /usr/bin/python3 scripts/make_ssl_fixtures.py. The test (test/ssl/algorithms.test.ts) builds the
same MLP from these weights and the same deterministic augmentations: weak(x) = x + 0.05·k at its
k-th call (k = 1, 2, ...), strong(x) = 0.5·flip(x) along the width. MixMatch's MixUp weights and
permutation and VAT's random direction are drawn here and stored, and the test injects them through the
context. The formulas follow the google-research/fixmatch implementations of each method.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)

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
TRAIN_IMAGES = 1000  # the test context's trainImages (MixMatch's ramp)
# Drawn after the inputs above, so that adding them left the other fixtures' inputs as they were.
MIX_N = 4 + 2 * 6  # labeled + K = 2 views of the unlabeled batch
MIX_LAMBDA = torch.distributions.Beta(0.75, 0.75).sample((MIX_N,))
MIX_LAMBDA = torch.maximum(MIX_LAMBDA, 1 - MIX_LAMBDA)
MIX_INDEX = torch.randperm(MIX_N)
VAT_D = torch.randn(6, 1, 4, 4)


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


def mixmatch(p):
    # mixmatch.py: guess by averaging K views (no gradient), sharpen, MixUp everything with everything
    # (mixmode xxy.yxy), soft cross-entropy on the labeled mixes, squared error on the unlabeled ones.
    a = Aug()
    xw = a.weak(xl)
    views = [a.weak(xu) for _ in range(p["k"])]
    with torch.no_grad():
        avg = sum(model(v).softmax(1) for v in views) / p["k"]
        guess = avg ** (1 / p["temperature"])
        guess = guess / guess.sum(1, keepdim=True)
    x = torch.cat([xw, *views])
    y = torch.cat([F.one_hot(yl, 4).float(), *[guess] * p["k"]])
    lam = MIX_LAMBDA.view(-1, 1, 1, 1)
    xm = lam * x + (1 - lam) * x[MIX_INDEX]
    ym = lam.view(-1, 1) * y + (1 - lam.view(-1, 1)) * y[MIX_INDEX]
    logits = model(xm)
    nl = xl.shape[0]
    lx = ce_soft(logits[:nl], ym[:nl]).mean()
    lu = ((logits[nl:].softmax(1) - ym[nl:]) ** 2).mean()
    warmup = min(p["warmupKimg"] * 1024 / TRAIN_IMAGES, p["warmupMax"])
    return lx + p["wu"] * min(1, PROGRESS / warmup) * lu, lu


def normalized(d):
    # vat_utils.get_normalized_vector: per example, by the max-norm then the L2 norm.
    dims = list(range(1, d.dim()))
    d = d / (1e-12 + d.abs().amax(dims, keepdim=True))
    return d / torch.sqrt(1e-6 + (d ** 2).sum(dims, keepdim=True))


def kl_logits(a, b):
    # KL(softmax(a) || softmax(b)) per example
    return (a.softmax(1) * (a.log_softmax(1) - b.log_softmax(1))).sum(1)


def vat(p):
    # vat.py with vat_utils.generate_perturbation (one power iteration); entropy minimisation unramped.
    a = Aug()
    lx = F.cross_entropy(model(a.weak(xl)), yl)
    xw = a.weak(xu)
    ly = model(xw)
    teacher_logits = ly.detach()
    d = (p["xi"] * normalized(VAT_D)).requires_grad_(True)
    dist = kl_logits(teacher_logits, model(xw + d)).mean()
    g = torch.autograd.grad(dist, [d])[0]
    r = p["eps"] * normalized(g)
    lu = kl_logits(model(xw + r), teacher_logits).mean()
    entropy = -(ly.softmax(1) * ly.log_softmax(1)).sum(1).mean()
    return lx + p["wu"] * min(1, PROGRESS / p["warmup"]) * lu + p["entmin"] * entropy, lu


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
    "mixmatch": (mixmatch, {"k": 2, "temperature": 0.5, "wu": 75.0, "warmupKimg": 1024, "warmupMax": 0.4}),
    "vat": (vat, {"wu": 0.3, "eps": 6.0, "xi": 0.5, "entmin": 0.06, "warmup": 0.4}),
    "supervised": (supervised, {}),
}

out = {**state(model, "model."), **state(teacher, "teacher."), "xl": xl, "yl": yl, "xu": xu,
       "mixmatch.lambda": MIX_LAMBDA, "mixmatch.index": MIX_INDEX, "vat.d": VAT_D}
for name, (fn, params) in CASES.items():
    model.zero_grad()
    loss, lu = fn(params)
    loss.backward()
    out[f"{name}.loss"] = loss.detach().reshape(1)
    out[f"{name}.loss_u"] = lu.detach().reshape(1)
    out[f"{name}.grad_fc"] = model[3].weight.grad.clone()
save_safetensors(OUT, {k: v.detach() for k, v in out.items()})
print({k: float(v) for k, v in out.items() if k.endswith("loss_u")})
