#!/usr/bin/env python3
"""Training and rate-mode inference throughput of lifchip against PyTorch (CPU) on the same nets.

    python3 bench/torch/compare.py [--threads 1,2] [--repeats 3] [--train-images 3000]
                                   [--infer-images 10000] [--nets mlp,conv] [--lifchip PATH]

Creates its own venv (target/venvs/torch, outside git) with torch and PyYAML from the default
package index on first use, then re-runs itself inside it. For each net of
examples/mnist-mlp.yaml and examples/mnist-conv.yaml and each thread count it alternates
lifchip and PyTorch runs (A, B, A, B, ...), `--repeats` of each, and prints the median
images/s of both and their ratio (lifchip / PyTorch):

- training: one pass over the first `--train-images` MNIST training images, batch size as
  configured (100); soft-LIF (Hunsberger & Eliasmith 2015) with the configured rate noise
  (Gaussian, `noise` Hz x amplitude, only where J > 1, no gradient, output clipped at 0) and
  dropout, softmax cross-entropy on the last layer's pre-activation, Adam with the configured
  learning rate and the cosine schedule stepped per batch. Both sides make two passes over
  the images and time the second (the first warms allocations, thread pools, kernel selection
  and caches): lifchip `lifchip train` on a copy of the config limited to those images with
  `epochs: 2`, the images of its JSON report's second epoch over that epoch's seconds (data
  loading excluded); PyTorch the same loop, its second pass timed. (Before 2026-12-05 22:10
  UTC PyTorch's pass was timed after one warm-up batch and lifchip's first, cold pass was.)
- inference: rate mode (soft-LIF curve, no noise, no dropout) over the first
  `--infer-images` test images, batches of 1000 in PyTorch; lifchip: `lifchip eval --json`'s
  seconds (256 images per batch inside).

Threads: lifchip gets RAYON_NUM_THREADS (and MATMUL_NUM_THREADS, for builds before GEMM moved onto
the rayon pool), PyTorch torch.set_num_threads and OMP_NUM_THREADS, in a fresh process per
measurement; PyTorch's OpenMP threads get OMP_WAIT_POLICY=PASSIVE unless `--omp-wait ACTIVE`
(on a machine shared with other jobs, spinning OpenMP threads made PyTorch's 2-thread MLP
training ~10x slower than 1 thread). Not part of CI.
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / "target" / "venvs" / "torch"
CONFIGS = {"mlp": REPO / "examples" / "mnist-mlp.yaml", "conv": REPO / "examples" / "mnist-conv.yaml"}


def ensure_venv():
    """Re-executes this script inside the venv (creating it first) unless torch is importable."""
    try:
        import torch  # noqa: F401
        import yaml  # noqa: F401
        return
    except ImportError:
        pass
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        sys.exit("torch or PyYAML is missing from the venv " + str(VENV))
    if not py.exists():
        print(f"creating {VENV} and installing torch (a large download, once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(py), "-c", "import torch, yaml"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "torch", "pyyaml"], check=True)
    os.execv(str(py), [str(py), __file__] + sys.argv[1:])


# ----------------------------------------------------------------------------- PyTorch side


def load_idx(name, limit):
    """The first `limit` items of a gzipped MNIST IDX file as a uint8 tensor."""
    import torch

    with gzip.open(REPO / "data" / "mnist" / name, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    arr = torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=4 + 4 * dims)
    return arr.reshape(shape)[:limit]


def soft_lif_module(p, train_noise):
    import torch

    amplitude, tau_rc, tau_ref = p["amplitude"], p["tau_rc"], p["tau_ref"]
    gamma, gain, noise = p["gamma"], p.get("gain", 1.0), p.get("noise", 0.0)

    class SoftLif(torch.nn.Module):
        def forward(self, pre):
            j = gamma * torch.nn.functional.softplus(gain * pre / gamma)
            out = amplitude / (tau_ref + tau_rc * torch.log1p(1.0 / j))
            if self.training and train_noise and noise > 0:
                eta = torch.randn_like(out) * (noise * amplitude)
                out = torch.relu(out + torch.where(pre > 0, eta, torch.zeros_like(eta)))
            return out

    return SoftLif()


def build_torch_net(cfg):
    import torch

    act = cfg["activation"]
    if act.get("kind") != "soft_lif":
        raise SystemExit("only soft_lif configs are compared")
    layers, shape = [], (1, 28, 28)
    weighted = sum(1 for l in cfg["layers"] if l["kind"] in ("dense", "conv2d"))
    seen = 0
    for layer in cfg["layers"]:
        kind = layer["kind"]
        if kind == "dense":
            if len(shape) == 3:
                layers.append(torch.nn.Flatten())
                shape = (shape[0] * shape[1] * shape[2],)
            lin = torch.nn.Linear(shape[0], layer["units"])
            torch.nn.init.xavier_uniform_(lin.weight)
            torch.nn.init.zeros_(lin.bias)
            layers.append(lin)
            shape = (layer["units"],)
        elif kind == "conv2d":
            k = layer["kernel"]
            conv = torch.nn.Conv2d(shape[0], layer["filters"], k, stride=layer.get("stride", 1),
                                   padding=layer.get("padding", 0))
            torch.nn.init.xavier_uniform_(conv.weight)
            torch.nn.init.zeros_(conv.bias)
            layers.append(conv)
            size = lambda n: (n + 2 * layer.get("padding", 0) - k) // layer.get("stride", 1) + 1
            shape = (layer["filters"], size(shape[1]), size(shape[2]))
        elif kind == "avg_pool":
            s = layer["size"]
            layers.append(torch.nn.AvgPool2d(s, stride=layer.get("stride", s)))
            shape = (shape[0], shape[1] // s, shape[2] // s)
        elif kind == "dropout":
            layers.append(torch.nn.Dropout(layer["rate"]))
            continue
        elif kind == "flatten":
            layers.append(torch.nn.Flatten())
            shape = (shape[0] * shape[1] * shape[2],) if len(shape) == 3 else shape
            continue
        else:
            raise SystemExit(f"layer kind {kind} not supported here")
        if kind in ("dense", "conv2d"):
            seen += 1
            if seen < weighted:
                layers.append(soft_lif_module(act, True))
    return torch.nn.Sequential(*layers)


def torch_measure(cfg, what, threads, images):
    """Images/s of one PyTorch training pass or inference pass, in this process."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(cfg.get("seed", 1))
    net = build_torch_net(cfg)
    batch = cfg.get("batch_size", 100)
    conv = any(l["kind"] == "conv2d" for l in cfg["layers"])
    split = "train" if what == "train" else "t10k"
    x = load_idx(f"{split}-images-idx3-ubyte.gz", images).float() / 255.0
    y = load_idx(f"{split}-labels-idx1-ubyte.gz", images).long()
    x = x.reshape(-1, 1, 28, 28) if conv else x.reshape(-1, 784)
    if what == "train":
        opt_cfg = cfg.get("optimizer", {})
        lr = opt_cfg.get("lr", 0.001)
        opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(opt_cfg.get("beta1", 0.9),
                               opt_cfg.get("beta2", 0.999)), eps=opt_cfg.get("epsilon", 1e-8))
        min_lr = cfg.get("schedule", {}).get("min_lr", 0.0)
        n_batches = (len(x) + batch - 1) // batch
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2 * n_batches,
                                                           eta_min=min_lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        net.train()

        def step(xb, yb):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            sched.step()

        # Two passes, the second timed: the first warms allocations, kernel selection and
        # caches on both sides alike.
        for b in range(0, len(x), batch):
            step(x[b : b + batch], y[b : b + batch])
        start = time.perf_counter()
        for b in range(0, len(x), batch):
            step(x[b : b + batch], y[b : b + batch])
        return len(x) / (time.perf_counter() - start)
    net.eval()
    with torch.no_grad():
        net(x[:1000])
        start = time.perf_counter()
        for b in range(0, len(x), 1000):
            net(x[b : b + 1000])
        return len(x) / (time.perf_counter() - start)


# ----------------------------------------------------------------------------- lifchip side


def lifchip_bin(arg):
    if arg:
        return arg
    exe = REPO / "target" / "release" / "lifchip"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "lifchip-cli"], cwd=REPO, check=True)
    return str(exe)


OMP_WAIT = "PASSIVE"


def thread_env(threads):
    env = dict(os.environ)
    for k in ("RAYON_NUM_THREADS", "MATMUL_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    env["OMP_WAIT_POLICY"] = OMP_WAIT
    env["PYTHONWARNINGS"] = "ignore"
    return env


def lifchip_train(exe, cfg, threads, images, work):
    import yaml

    c = dict(cfg)
    # Two passes over the images; the second is timed (the report's per-epoch `seconds` are
    # cumulative), as PyTorch's second pass is.
    c.update(epochs=2, train_limit=images, test_limit=0)
    path = work / f"{c['name']}.yaml"
    path.write_text(yaml.safe_dump(c))
    report = work / "train.json"
    subprocess.run([exe, "train", "--config", str(path), "--out", str(work / "bench.net"),
                    "--json", str(report)], env=thread_env(threads), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    epochs = json.loads(report.read_text())["epochs"]
    return epochs[1]["images"] / (epochs[1]["seconds"] - epochs[0]["seconds"])


def lifchip_infer(exe, net, threads, images, work):
    report = work / "eval.json"
    subprocess.run([exe, "eval", "--net", str(net), "--limit", str(images), "--json", str(report)],
                   env=thread_env(threads), check=True, stdout=subprocess.DEVNULL)
    r = json.loads(report.read_text())
    return r["samples"] / max(r["details"]["seconds"], 1e-9)


def torch_subprocess(cfg_path, what, threads, images):
    out = subprocess.run([sys.executable, __file__, "--torch-one", str(cfg_path), what,
                          str(threads), str(images)], env=thread_env(threads), check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-images", type=int, default=3000)
    ap.add_argument("--infer-images", type=int, default=10000)
    ap.add_argument("--nets", default="mlp,conv")
    ap.add_argument("--lifchip", help="the lifchip binary (default: target/release/lifchip, built if missing)")
    ap.add_argument("--omp-wait", default="PASSIVE", choices=["PASSIVE", "ACTIVE"],
                    help="OMP_WAIT_POLICY of the PyTorch runs (default PASSIVE: on a shared machine "
                    "OpenMP's spinning threads slowed PyTorch's 2-thread runs ~10x)")
    ap.add_argument("--torch-one", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global OMP_WAIT
    OMP_WAIT = args.omp_wait
    ensure_venv()
    import torch
    import yaml

    if args.torch_one:
        cfg_path, what, threads, images = args.torch_one
        cfg = yaml.safe_load(Path(cfg_path).read_text())
        print(torch_measure(cfg, what, int(threads), int(images)))
        return
    exe = lifchip_bin(args.lifchip)
    load = os.getloadavg()
    print(f"torch {torch.__version__} (OMP_WAIT_POLICY={OMP_WAIT}), lifchip {exe}; load average at start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    print(f"{'net':<6}{'what':<7}{'threads':>8}{'lifchip img/s':>16}{'torch img/s':>14}{'ratio':>8}   runs (lifchip | torch)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.nets.split(","):
            cfg_path = CONFIGS[name]
            cfg = yaml.safe_load(cfg_path.read_text())
            # A net to evaluate: the config trained briefly (inference speed does not depend on
            # the weights' values, only on their shapes).
            small = dict(cfg)
            small.update(epochs=1, train_limit=200, test_limit=0)
            (work / "small.yaml").write_text(yaml.safe_dump(small))
            net = work / "infer.net"
            subprocess.run([exe, "train", "--config", str(work / "small.yaml"), "--out", str(net)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for what in ("train", "infer"):
                images = args.train_images if what == "train" else args.infer_images
                for threads in [int(t) for t in args.threads.split(",")]:
                    a, b = [], []
                    for _ in range(args.repeats):
                        if what == "train":
                            a.append(lifchip_train(exe, cfg, threads, images, work))
                        else:
                            a.append(lifchip_infer(exe, net, threads, images, work))
                        b.append(torch_subprocess(cfg_path, what, threads, images))
                    ma, mb = statistics.median(a), statistics.median(b)
                    runs = " ".join(f"{v:.0f}" for v in a) + " | " + " ".join(f"{v:.0f}" for v in b)
                    print(f"{name:<6}{what:<7}{threads:>8}{ma:>16.0f}{mb:>14.0f}{ma / mb:>7.2f}x   {runs}",
                          flush=True)
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
