"""Computes the PyTorch reference values that semipoison's tests compare against, once.

Run: /usr/bin/python3 scripts/make_fixtures.py   (Debian python3-torch). Writes test/fixtures/*.safetensors.
Every op case stores its inputs, its output, a fixed upstream gradient and the gradients of
sum(output * upstream) with respect to each float input. The test file test/tensor/ops.test.ts
holds the same case names and computes them with the TypeScript engine.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from reference_models import SmallCnn, WideResNet, decay_groups, save_safetensors, state_for_export  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures")
torch.manual_seed(1234)
torch.set_num_threads(1)


def r(*shape):
    return torch.randn(*shape)


def pos(*shape):
    return torch.rand(*shape) + 0.5


theta = torch.tensor([[[0.9, -0.2, 0.1], [0.15, 1.1, -0.05]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])

# name -> (inputs, function of the inputs); integer inputs get no gradient.
CASES = {
    "add": ([r(3, 4), r(4)], lambda a, b: a + b),
    "sub_scalar": ([r(3, 4)], lambda a: a - 1.5),
    "mul": ([r(2, 3, 4), r(3, 1)], lambda a, b: a * b),
    "div": ([r(3, 4), pos(3, 4)], lambda a, b: a / b),
    "pow": ([pos(5)], lambda a: a ** 2.5),
    "exp": ([r(6)], torch.exp),
    "log": ([pos(6)], torch.log),
    "sqrt": ([pos(6)], torch.sqrt),
    "sigmoid": ([r(6)], torch.sigmoid),
    "tanh": ([r(6)], torch.tanh),
    "relu": ([r(10)], F.relu),
    "leaky_relu": ([r(10)], lambda a: F.leaky_relu(a, 0.1)),
    "clamp": ([r(10)], lambda a: a.clamp(-0.5, 0.7)),
    "sum_dim": ([r(3, 4, 5)], lambda a: a.sum([0, 2], keepdim=True)),
    "mean_dim": ([r(3, 4, 5)], lambda a: a.mean(1)),
    "max_dim": ([r(4, 7)], lambda a: a.max(1).values),
    "logsumexp": ([r(4, 7)], lambda a: a.logsumexp(1)),
    "std": ([r(4, 7)], lambda a: a.std(1)),
    "norm": ([r(4, 7)], lambda a: torch.linalg.vector_norm(a, 2, 1)),
    "matmul": ([r(2, 3, 4), r(4, 5)], torch.matmul),
    "linear": ([r(6, 4), r(3, 4), r(3)], F.linear),
    "conv2d": ([r(2, 3, 9, 9), r(5, 3, 3, 3), r(5)], lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1)),
    "conv_transpose2d": ([r(2, 4, 5, 5), r(4, 3, 4, 4), r(3)],
                         lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=0)),
    "batch_norm_train": ([r(4, 3, 5, 5), pos(3), r(3)],
                         lambda x, w, b: F.batch_norm(x, torch.zeros(3), torch.ones(3), w, b, True, 0.1, 1e-3)),
    "batch_norm_eval": ([r(4, 3, 5, 5), pos(3), r(3)],
                        lambda x, w, b: F.batch_norm(x, torch.full((3,), 0.2), torch.full((3,), 1.5), w, b, False, 0.1, 1e-3)),
    "max_pool2d": ([r(2, 3, 8, 8)], lambda x: F.max_pool2d(x, 2)),
    "avg_pool2d": ([r(2, 3, 8, 8)], lambda x: F.avg_pool2d(x, 2)),
    "adaptive_avg_pool2d": ([r(2, 3, 8, 8)], lambda x: F.adaptive_avg_pool2d(x, 1)),
    "softmax": ([r(4, 6)], lambda x: F.softmax(x, 1)),
    "log_softmax": ([r(4, 6)], lambda x: F.log_softmax(x, 1)),
    "cross_entropy": ([r(5, 4), torch.tensor([0, 3, 1, 1, 2])], lambda x, t: F.cross_entropy(x, t)),
    "cross_entropy_none": ([r(5, 4), torch.tensor([0, 3, 1, 1, 2])], lambda x, t: F.cross_entropy(x, t, reduction="none")),
    "cross_entropy_soft": ([r(5, 4), F.softmax(r(5, 4), 1)], lambda x, t: F.cross_entropy(x, t)),
    "kl_div": ([F.log_softmax(r(5, 4), 1), F.softmax(r(5, 4), 1)], lambda x, t: F.kl_div(x, t, reduction="batchmean")),
    "mse_loss": ([r(5, 4), r(5, 4)], F.mse_loss),
    "grid_sample": ([r(2, 3, 6, 6)],
                    lambda x: F.grid_sample(x, F.affine_grid(theta, [2, 3, 6, 6], align_corners=False),
                                            padding_mode="reflection", align_corners=False)),
    "pad_reflect": ([r(2, 1, 5, 5)], lambda x: F.pad(x, [2, 2, 1, 3], mode="reflect")),
    "flip": ([r(2, 3, 4)], lambda x: torch.flip(x, [2])),
    "roll": ([r(2, 3, 4)], lambda x: torch.roll(x, [1, -2], [1, 2])),
    "cat": ([r(2, 3), r(4, 3)], lambda a, b: torch.cat([a, b], 0)),
    "stack": ([r(2, 3), r(2, 3)], lambda a, b: torch.stack([a, b], 1)),
    "gather": ([r(3, 5), torch.tensor([[0, 4], [2, 2], [1, 3]])], lambda a, i: a.gather(1, i)),
    "index_select": ([r(6, 3), torch.tensor([5, 0, 2, 2])], lambda a, i: a.index_select(0, i)),
    "cdist": ([r(4, 6), r(5, 6)], lambda a, b: torch.cdist(a, b)),
    "topk": ([r(3, 8)], lambda a: a.topk(3, 1).values),
    "sort": ([r(3, 8)], lambda a: a.sort(1, descending=True).values),
    "where": ([r(3, 4), r(3, 4)], lambda a, b: torch.where(a > 0, a, b)),
    "scatter": ([r(3, 5), torch.tensor([[0], [4], [2]]), r(3, 1)], lambda a, i, s: a.scatter(1, i, s)),
}


def op_fixtures():
    out = {}
    for name, (inputs, fn) in CASES.items():
        ins = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
        y = fn(*ins)
        gout = torch.randn_like(y)
        (y * gout).sum().backward()
        for i, x in enumerate(ins):
            out[f"{name}.in{i}"] = x.detach()
            if x.grad is not None:
                out[f"{name}.grad{i}"] = x.grad
        out[f"{name}.out"] = y.detach()
        out[f"{name}.gout"] = gout
    save_safetensors(os.path.join(OUT, "ops.safetensors"), out)


def model_fixtures(name, model, x, y, opt_kind):
    """Eval and train logits, then two optimizer steps, for weight-for-weight comparison.

    Convolution weights are channels-last, as semipoison stores them: the summation order of the
    weight gradients depends on the layout, and through BatchNorm on a batch of 8 the two layouts'
    first-layer gradients differ by ~0.2%, more than the comparison's tolerance.
    """
    model = model.to(memory_format=torch.channels_last)
    weights = {k: v.clone() for k, v in state_for_export(model).items()}
    model.eval()
    logits_eval = model(x).detach()
    model.train()
    if opt_kind == "sgd":
        opt = torch.optim.SGD(decay_groups(model), lr=0.03, momentum=0.9, nesterov=True)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        logits_train = model(x)
        loss = F.cross_entropy(logits_train, y)
        loss.backward()
        opt.step()
        losses.append(loss.detach().reshape(1))
    # A sample of the updated state (first and last layers, a deep conv, a BatchNorm) keeps the file small.
    keep = ("stem.", "fc.", "unit2_3.conv2.", "unit0_0.bn1.", "body.0.", "body.13.")
    after = {f"after.{k}": v.clone() for k, v in state_for_export(model).items() if k.startswith(keep)}
    save_safetensors(os.path.join(OUT, f"{name}.safetensors"),
                     {**weights, **after, "x": x, "y": y, "logits_eval": logits_eval, "losses": torch.cat(losses)},
                     {"optimizer": opt_kind})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    op_fixtures()
    torch.manual_seed(7)
    model_fixtures("wrn28_2", WideResNet(), torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)), "sgd")
    torch.manual_seed(8)
    model_fixtures("cnn", SmallCnn(width=8), torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)), "adam")
    print("fixtures written to", os.path.abspath(OUT))
