"""PyTorch side of `make bench`: times one SGD step of the same models, printing JSON.

Usage: /usr/bin/python3 bench/pytorch_engine.py THREADS MODEL WARMUP STEPS [bf16]
BENCH_DEVICE=cuda runs it on the GPU (bf16 autocast there too; the clock waits for the device).
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from reference_models import SmallCnn, WideResNet, decay_groups  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    threads, model_name, warmup, steps = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    bf16 = len(sys.argv) > 5 and sys.argv[5] == "bf16"
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as semipoison does; denormals slow early steps ~5x
    torch.manual_seed(0)
    device = torch.device(os.environ.get("BENCH_DEVICE", "cpu"))
    if model_name == "cnn":
        model, x = SmallCnn(width=32), torch.randn(64, 1, 28, 28)
    else:
        model, x = WideResNet(), torch.randn(64, 3, 32, 32)
    model, x = model.to(device), x.to(device)
    # The same memory layout as semipoison's models (channels-last convolution weights), which is
    # also PyTorch's faster layout on this CPU: the comparison is against its best configuration.
    model = model.to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,)).to(device)
    opt = torch.optim.SGD(decay_groups(model), lr=0.03, momentum=0.9, nesterov=True)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):  # oneDNN primitive creation and first-touch allocation
        step()
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(json.dumps({"median_ms": times[len(times) // 2], "steps": steps, "threads": torch.get_num_threads(), "version": torch.__version__}))


if __name__ == "__main__":
    main()
