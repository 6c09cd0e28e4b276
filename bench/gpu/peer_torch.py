"""The peer of bench/gpu/evaluation.mjs in PyTorch: the default objective (VGG19 to block5_conv1
with max pooling, random weights of the right shapes, Gram style costs on block1-5_conv1 weighted
256:64:16:4:1, content block4_conv2, total variation) and its gradient by autograd, fp32, on CUDA
when there is one, else the CPU. One JSON line per size.
    python3 bench/gpu/peer_torch.py [--sizes 512,1024,2048] [--runs 5] [--threads N]
"""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--sizes", default="512")
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--threads", type=int, default=0)
args = parser.parse_args()
torch.set_num_threads(args.threads or os.cpu_count())
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

BLOCKS = [(1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 1, 512)]
STYLE = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CONTENT = "block4_conv2"
LAYER_WEIGHTS = [w / 341 for w in (256, 64, 16, 4, 1)]

g = torch.Generator().manual_seed(0)
layers = []
c_in = 3
for block, convs, c_out in BLOCKS:
    for i in range(1, convs + 1):
        bound = (6 / (c_in * 9)) ** 0.5
        w = (torch.rand(c_out, c_in, 3, 3, generator=g) * 2 - 1) * bound
        b = (torch.rand(c_out, generator=g) * 2 - 1) * 0.1
        layers.append((f"block{block}_conv{i}", w.to(device), b.to(device)))
        c_in = c_out
    layers.append((f"block{block}_pool", None, None))


def features(x):
    out = {}
    for name, w, b in layers:
        if w is None:
            x = F.max_pool2d(x, 2)
        else:
            x = F.relu(F.conv2d(x, w, b, padding=1))
            out[name] = x
    return out


def gram(f):
    _, c, h, w = f.shape
    m = f.reshape(c, h * w)
    return m @ m.t() / (h * w)


for size in [int(s) for s in args.sizes.split(",")]:
    h, w = round(size * 3 / 4), size
    image = torch.rand(1, 3, h, w, generator=g).to(device) * 255 - 120
    targets = {n: torch.rand(f.shape[1], f.shape[1], generator=g).to(device) for n, f in features(image).items() if n in STYLE}
    content = torch.rand(features(image)[CONTENT].shape, generator=g).to(device)

    def evaluate():
        x = image.clone().requires_grad_(True)
        f = features(x)
        style = sum(wt * ((gram(f[n]) - targets[n]) ** 2).mean() for wt, n in zip(LAYER_WEIGHTS, STYLE))
        cont = ((f[CONTENT] - content) ** 2).mean()
        tv = ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum() + ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()
        j = 100 * cont + style + 10 * tv
        j.backward()
        return j.item(), x.grad

    evaluate()
    times = []
    for _ in range(args.runs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        evaluate()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps({"peer": "pytorch", "device": str(device), "torch": torch.__version__, "size": f"{h}x{w}",
                      "threads": torch.get_num_threads(), "secondsPerEvaluation": times[len(times) // 2]}), flush=True)
