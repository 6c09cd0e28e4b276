"""The seed algorithm in PyTorch: the peer that `npm run bench` measures nst against.

It reads what the benchmark prepared (the same scaled content and style images and the same
VGG19 weights, as raw float32), runs the seed's Adam loop (lr 0.01, betas 0.9/0.99, clip to
[0, 1] after each update) and prints one JSON line: seconds per iteration (median after warm-up),
peak resident memory, the cost of the initial image (also in float64, --double) and, with
--trace, (seconds, cost) after every iteration.

--optimizer lbfgs / lbfgs-wolfe runs torch.optim.LBFGS as neural-style-pt does (history 100, no
tolerances, no bounds: PyTorch has no bounded L-BFGS), without and with its strong-Wolfe line
search. The image such a run writes is clamped to [0, 1], so its trace holds the cost of the
clamped image after every evaluation (computed off the clock).
"""
import argparse
import json
import os
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="directory written by the benchmark")
parser.add_argument("--iterations", type=int, default=5)
parser.add_argument("--warmup", type=int, default=2)
parser.add_argument("--threads", type=int, default=os.cpu_count())
parser.add_argument("--trace", action="store_true")
parser.add_argument("--optimizer", choices=["adam", "lbfgs", "lbfgs-wolfe"], default="adam")
parser.add_argument("--double", action="store_true", help="also the cost of the initial image in float64")
parser.add_argument("--seconds", type=float, default=float("inf"), help="L-BFGS: stop after this long")
args = parser.parse_args()
torch.set_num_threads(args.threads)

meta = json.load(open(os.path.join(args.data, "meta.json")))
flat = np.fromfile(os.path.join(args.data, "weights.bin"), dtype=np.float32)
convs, offset = [], 0
for layer in meta["layers"]:
    kh, kw, cin, cout = layer["shape"]
    kernel = flat[offset:offset + kh * kw * cin * cout].reshape(kh, kw, cin, cout)
    offset += kernel.size
    bias = flat[offset:offset + cout]
    offset += cout
    # HWIO (Keras) -> OIHW (PyTorch)
    convs.append((layer["name"], torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()), torch.from_numpy(bias.copy())))


def image(name):
    h, w = meta[name]["shape"]
    data = np.fromfile(os.path.join(args.data, f"{name}.bin"), dtype=np.float32).reshape(1, h, w, 3)
    return torch.from_numpy(data.transpose(0, 3, 1, 2).copy())


STYLE = meta["styleLayers"]
CONTENT = meta["contentLayer"]
MEANS = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


def features(x):
    """VGG19 with average pooling on Keras' preprocess_input(x * 255) (BGR, mean subtracted)."""
    x = x * 255
    x = x[:, [2, 1, 0]] - MEANS
    out = {}
    for i, (name, kernel, bias) in enumerate(convs):
        x = F.relu(F.conv2d(x, kernel, bias, padding=1))
        out[name] = x
        block = name.split("_")[0]
        if i + 1 < len(convs) and convs[i + 1][0].split("_")[0] != block:
            x = F.avg_pool2d(x, 2, 2)
    return [out[n] for n in STYLE], out[CONTENT]


def gram(f):
    _, c, h, w = f.shape
    m = f.reshape(c, h * w)
    return m @ m.t() / (h * w)


with torch.no_grad():
    style_outputs, _ = features(image("style"))
    grams = [gram(f) for f in style_outputs]
    content = image("content")
    _, content_target = features(content)

alpha, beta, var = meta["alpha"], meta["beta"], meta["var"]


def cost(x):
    s_out, c_out = features(x)
    j_style = sum(torch.mean((gram(f) - g) ** 2) for f, g in zip(s_out, grams)) / len(grams)
    j_content = torch.mean((c_out - content_target) ** 2)
    j_var = torch.sum(torch.abs(x[:, :, 1:, :] - x[:, :, :-1, :])) + torch.sum(torch.abs(x[:, :, :, 1:] - x[:, :, :, :-1]))
    return alpha * j_content + beta * j_style + var * j_var


def cost64():
    """The cost of the content image with everything in float64: the reference for iteration 0."""
    global convs, grams, content_target, MEANS
    saved = convs, grams, content_target, MEANS
    convs = [(n, k.double(), b.double()) for n, k, b in saved[0]]
    MEANS = saved[3].double()
    with torch.no_grad():
        s_out, _ = features(image("style").double())
        grams = [gram(f) for f in s_out]
        _, content_target = features(content.double())
        value = cost(content.double()).item()
    convs, grams, content_target, MEANS = saved
    return value


first_cost64 = cost64() if args.double else None
x = content.clone().requires_grad_(True)
times, trace, first_cost, best = [], [], None, float("inf")
start = time.perf_counter()
if args.optimizer == "adam":
    opt = torch.optim.Adam([x], lr=0.01, betas=(0.9, 0.99), eps=1e-7)
    for i in range(args.warmup + args.iterations):
        t = time.perf_counter()
        opt.zero_grad()
        j = cost(x)
        j.backward()
        value = j.item()
        best = min(best, value)
        if first_cost is None:
            first_cost = value
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        times.append(time.perf_counter() - t)
        if args.trace:
            trace.append([time.perf_counter() - start, value])
else:
    # As neural-style-pt: one LBFGS call runs every iteration; each closure call is an evaluation.
    line_search = "strong_wolfe" if args.optimizer == "lbfgs-wolfe" else None
    total = args.warmup + args.iterations
    opt = torch.optim.LBFGS([x], max_iter=total, max_eval=total * 5 // 4 if line_search else total,
                            history_size=100, tolerance_grad=-1, tolerance_change=-1, line_search_fn=line_search)
    paused = [0.0]
    last = [time.perf_counter()]

    def closure():
        global first_cost, best
        opt.zero_grad()
        j = cost(x)
        j.backward()
        value = j.item()
        now = time.perf_counter()
        times.append(now - last[0])
        elapsed = now - start - paused[0]
        with torch.no_grad():
            clamped = cost(x.clamp(0, 1)).item()  # what the written image costs, off the clock
        paused[0] += time.perf_counter() - now
        if first_cost is None:
            first_cost = value
        best = min(best, clamped)
        if args.trace:
            trace.append([elapsed, clamped])
        if elapsed > args.seconds:
            raise TimeoutError
        last[0] = time.perf_counter()
        return j

    try:
        opt.step(closure)
    except TimeoutError:
        pass

print(json.dumps({
    "engine": "pytorch",
    "optimizer": args.optimizer,
    "version": torch.__version__,
    "threads": torch.get_num_threads(),
    "secondsPerIteration": statistics.median(times[args.warmup:]),
    "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "firstCost": first_cost,
    "firstCost64": first_cost64,
    "bestCost": best,
    "trace": trace if args.trace else None,
}))
