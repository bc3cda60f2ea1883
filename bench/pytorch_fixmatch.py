"""PyTorch side of the trainer benchmark: one FixMatch step as the Python implementations run it.

The PyTorch ports of FixMatch (kekmodel/FixMatch-pytorch, TorchSSL, USB) augment image by image with
PIL inside a DataLoader: weak = flip + translate by up to 12.5% with reflection padding; strong =
weak + RandAugment (2 ops with random magnitude, each applied with probability 0.5) + Cutout of half
the image side. This file does the same with PIL and NumPy (Debian has no torchvision), on the same
model as semipoison (the CPU CNN, channels-last), the same batch (B labeled + μB unlabeled, weak and
strong views in one forward pass), the FixMatch loss, SGD with Nesterov momentum and an EMA update.

Usage: /usr/bin/python3 bench/pytorch_fixmatch.py THREADS WORKERS BATCH URATIO WIDTH WARMUP STEPS [augment]
Environment: BENCH_DEVICE=cuda trains on the GPU (batches copied there from pinned memory, the clock
waits for the device); BENCH_MODEL=wrn28_2 swaps the CNN for WRN-28-2; BENCH_DATA is the folder of
the Fashion-MNIST IDX files; BENCH_BF16=1 runs the forward pass and the loss under bfloat16 autocast
(torch.autocast, as semipoison's `--precision bf16` does).
Prints one JSON line: the median step time (data loading wait included) in milliseconds; with
`augment`, the median time to build one unlabeled batch (μB weak + strong views, as tensors) instead.
"""
import gzip
import json
import os
import random
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from reference_models import SmallCnn, WideResNet, decay_groups  # noqa: E402

DATA = os.environ.get("BENCH_DATA", "/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST channel statistics


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        h, w = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, h, w)
    return np.frombuffer(data, np.uint8, offset=8)


def weak(img):
    if random.random() < 0.5:
        img = ImageOps.mirror(img)
    a = np.asarray(img)
    pad = int(round(0.125 * a.shape[0]))
    p = np.pad(a, pad, mode="reflect")
    dy, dx = random.randint(0, 2 * pad), random.randint(0, 2 * pad)
    return Image.fromarray(p[dy:dy + a.shape[0], dx:dx + a.shape[1]])


def _enhance(cls):
    return lambda img, m: cls(img).enhance(0.95 - 0.9 * m)


def _affine(kind):
    def op(img, m):
        s = m * random.choice((-1, 1))
        w, h = img.size
        coeffs = {
            "shear_x": (1, 0.3 * s, 0, 0, 1, 0),
            "shear_y": (1, 0, 0, 0.3 * s, 1, 0),
            "translate_x": (1, 0, 0.3 * s * w, 0, 1, 0),
            "translate_y": (1, 0, 0, 0, 1, 0.3 * s * h),
        }[kind]
        return img.transform(img.size, Image.AFFINE, coeffs, fillcolor=128)
    return op


RA_OPS = [
    lambda img, m: ImageOps.autocontrast(img),
    _enhance(ImageEnhance.Brightness),
    _enhance(ImageEnhance.Color),
    _enhance(ImageEnhance.Contrast),
    lambda img, m: ImageOps.equalize(img),
    lambda img, m: img,
    lambda img, m: ImageOps.posterize(img, 8 - int(4.999 * m)),
    lambda img, m: img.rotate(30 * m * random.choice((-1, 1)), fillcolor=128),
    _enhance(ImageEnhance.Sharpness),
    _affine("shear_x"),
    _affine("shear_y"),
    lambda img, m: ImageOps.solarize(img, int(256 * (1 - m))),
    _affine("translate_x"),
    _affine("translate_y"),
]


def strong(img):
    img = weak(img)
    for _ in range(2):
        if random.random() < 0.5:
            img = random.choice(RA_OPS)(img, random.random())
    a = np.array(img)
    side = a.shape[0] // 2
    cy, cx = random.randrange(a.shape[0]), random.randrange(a.shape[1])
    a[max(0, cy - side // 2):cy + side // 2, max(0, cx - side // 2):cx + side // 2] = 128
    return Image.fromarray(a)


def to_tensor(img):
    return (torch.from_numpy(np.asarray(img, np.float32) / 255.0) - MEAN).div_(STD).unsqueeze(0)


class Labeled(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return to_tensor(weak(Image.fromarray(self.images[i]))), int(self.labels[i])


class Unlabeled(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i])
        return to_tensor(weak(img)), to_tensor(strong(img))


def forever(loader):
    while True:
        yield from loader


def main():
    threads, workers, batch, uratio, width, warmup, steps = map(int, sys.argv[1:8])
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    random.seed(0)
    images = read_idx(f"{DATA}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz")
    per_class = 25  # 250 labels, balanced
    lab = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)])
    unl = np.setdiff1d(np.arange(len(images)), lab)
    device = torch.device(os.environ.get("BENCH_DEVICE", "cpu"))
    cuda = device.type == "cuda"
    bf16 = os.environ.get("BENCH_BF16", "0") == "1"
    common = dict(num_workers=workers, drop_last=True, shuffle=True, persistent_workers=workers > 0, pin_memory=cuda)
    lx = forever(torch.utils.data.DataLoader(Labeled(images[lab], labels[lab]), batch_size=batch, **common))
    ux = forever(torch.utils.data.DataLoader(Unlabeled(images[unl]), batch_size=batch * uratio, **common))

    if len(sys.argv) > 8 and sys.argv[8] == "augment":
        data, n = Unlabeled(images[unl]), batch * uratio
        times = []
        for r in range(warmup + steps):
            t0 = time.perf_counter()
            views = [data[random.randrange(len(data))] for _ in range(n)]
            torch.stack([w for w, _ in views]), torch.stack([s for _, s in views])
            if r >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(json.dumps({"median_ms": times[len(times) // 2], "batches": steps}))
        return

    if os.environ.get("BENCH_MODEL", "cnn") == "wrn28_2":
        model, ema = WideResNet(in_channels=1), WideResNet(in_channels=1)
    else:
        model, ema = SmallCnn(width=width), SmallCnn(width=width)
    model = model.to(device, memory_format=torch.channels_last)
    ema = ema.to(device, memory_format=torch.channels_last)
    ema.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(decay_groups(model), lr=0.03, momentum=0.9, nesterov=True)
    model.train()

    def step():
        (xl, yl), (uw, us) = next(lx), next(ux)
        xl, yl, uw, us = (t.to(device, non_blocking=True) for t in (xl, yl, uw, us))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(torch.cat([xl, uw, us]))
            ll, lw, ls = logits[:batch], logits[batch:batch + len(uw)], logits[batch + len(uw):]
            probs = torch.softmax(lw.detach().float(), 1)
            conf, pseudo = probs.max(1)
            loss = F.cross_entropy(ll, yl) + (F.cross_entropy(ls, pseudo, reduction="none") * (conf >= 0.95)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - 0.999)
            for be, bm in zip(ema.buffers(), model.buffers()):
                be.copy_(bm)

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(json.dumps({"median_ms": times[len(times) // 2], "steps": steps, "threads": threads, "workers": workers,
                      "bf16": bf16}))


if __name__ == "__main__":
    main()
