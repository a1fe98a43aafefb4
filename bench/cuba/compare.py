#!/usr/bin/env python3
"""lifchip's CUBA benchmark and Brian2's, side by side in one run, alternating.

    python3 bench/cuba/compare.py                       # 4,000 and 40,000 neurons
    python3 bench/cuba/compare.py --neurons 4000 --repeats 5

For each size: the CHIPDIR is compiled once (target/cuba-N.chip, reused while its stamp
matches) and Brian2's C++ standalone program is generated and compiled once
(target/brian2_cuba_N, through brian2_cuba.py, which creates Brian2's venv on first use).
Then each round runs lifchip's `cuba --chip --repeat 2` (functional, cycle-accurate,
functional, cycle-accurate, one process) and Brian2's compiled program, one after the other;
the table gives the medians, each run's figures and the load average. Times are the
simulation loops alone: lifchip's per mode (after loading the CHIPDIR), Brian2's
`last_run_info.txt` (after building the synapses).

The ratios are issue 13's: lifchip functional against Brian2 (how many times faster), and
the cycle-accurate run against the functional one, for the process's first cycle-accurate
run (which also builds, on each compartment's first spike, the per-core entries and the
multicast tree the cycle model keeps for it) and for its second (which reuses them).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BRIAN = Path(__file__).resolve().parent / "brian2_cuba.py"


def w_inh_for(neurons):
    """The inhibitory weight the README's commands use: weaker above 10,000 neurons (the
    default -110 silences the 40k net)."""
    return -110 if neurons <= 10_000 else -25


def cuba_bin(arg):
    exe = Path(arg) if arg else ROOT / "target" / "release" / "cuba"
    if not arg:
        subprocess.run(["cargo", "build", "--release", "-p", "lifchip-bench", "--bin", "cuba"],
                       cwd=ROOT, check=True)
    if not exe.exists():
        sys.exit(f"no cuba binary at {exe}")
    return exe


def ensure_chip(exe, n, p, w_inh, seed, threads):
    """The CHIPDIR of the net, compiled when missing or made for other parameters."""
    chip = ROOT / "target" / f"cuba-{n}.chip"
    stamp = ROOT / "target" / f"cuba-{n}.chip.stamp"
    want = f"neurons={n} p={p} w_inh={w_inh} seed={seed}\n"
    if chip.is_dir() and stamp.exists() and stamp.read_text() == want:
        return chip
    print(f"compiling the {n}-neuron net into {chip} ...", file=sys.stderr, flush=True)
    subprocess.run([str(exe), "--neurons", str(n), "--p", str(p), f"--w-inh={w_inh}",
                    "--seed", str(seed), "--ticks", "1", "--modes", "functional",
                    "--threads", str(threads), "--out", str(chip)],
                   check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(want)
    return chip


def ensure_brian(n, p, ticks, seed):
    """Brian2's compiled program for the net, generated when missing or made for other
    parameters."""
    build = ROOT / "target" / f"brian2_cuba_{n}"
    stamp = build / "lifchip-stamp"
    want = f"neurons={n} p={p} ticks={ticks} seed={seed}\n"
    if (build / "main").exists() and stamp.exists() and stamp.read_text() == want:
        return build
    print(f"generating and compiling Brian2's program in {build} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, str(BRIAN), "--neurons", str(n), "--p", str(p),
                    "--ticks", str(ticks), "--seed", str(seed), "--build-dir", str(build)],
                   check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(want)
    return build


def run_lifchip(exe, chip, w_inh, ticks, threads, seed):
    out = subprocess.run([str(exe), "--chip", str(chip), f"--w-inh={w_inh}", "--seed", str(seed),
                          "--ticks", str(ticks), "--modes", "both", "--repeat", "2",
                          "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    times = {}
    for mode, pattern in (("functional", r"^functional: ([0-9.]+) s for"),
                          ("first", r"the first run ([0-9.]+) s\)"),
                          ("later", r"^cycle-accurate later runs: ([0-9.]+) s")):
        m = re.search(pattern, out, re.M)
        if not m:
            sys.exit(f"no {mode} time in cuba's output:\n{out}")
        times[mode] = float(m.group(1))
    return times["functional"], times["first"], times["later"]


def run_brian(build):
    info = build / "results" / "last_run_info.txt"
    info.unlink(missing_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(["./main"], cwd=build, env=env, check=True, stdout=subprocess.DEVNULL)
    return float(info.read_text().split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neurons", default="4000,40000", help="sizes, comma-separated")
    ap.add_argument("--p", type=float, default=0.02)
    ap.add_argument("--ticks", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="lifchip's emulator threads (Brian2: 1)")
    ap.add_argument("--w-inh", type=int, help="lifchip's inhibitory weight for every size "
                    "(default: -110 up to 10,000 neurons, -25 above)")
    ap.add_argument("--cuba", help="the cuba binary (default: target/release/cuba, built first)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.neurons.split(",") if x]
    if not sizes or any(not 2 <= n <= 10_000_000 for n in sizes) or not 1 <= args.repeats <= 100:
        sys.exit("sizes in 2..1e7, repeats in 1..100")
    exe = cuba_bin(args.cuba)
    prepared = []
    for n in sizes:
        w = args.w_inh if args.w_inh is not None else w_inh_for(n)
        prepared.append((n, w, ensure_chip(exe, n, args.p, w, args.seed, args.threads),
                         ensure_brian(n, args.p, args.ticks, args.seed)))
    load = os.getloadavg()
    print(f"{args.ticks} ticks, p = {args.p}, lifchip on {args.threads} thread(s), Brian2 on 1; "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    print("cycle: a process's first cycle-accurate run (it also builds the cycle model's "
          "per-compartment tables); cycle 2nd: the next run of the same program")
    print(f"{'neurons':>8} {'functional s':>13} {'cycle s':>9} {'cycle 2nd s':>12} "
          f"{'Brian2 s':>9} {'x Brian2':>9} {'cycle/func':>11} {'2nd/func':>9}   "
          "runs (functional | cycle | cycle 2nd | Brian2)")
    for n, w, chip, build in prepared:
        f, c, c2, b = [], [], [], []
        for _ in range(args.repeats):
            ff, cc, cc2 = run_lifchip(exe, chip, w, args.ticks, args.threads, args.seed)
            f.append(ff)
            c.append(cc)
            c2.append(cc2)
            b.append(run_brian(build))
        mf, mc, mc2, mb = (statistics.median(x) for x in (f, c, c2, b))
        ratios = " ".join(f"{y / x:.2f}" for x, y in zip(f, c))
        runs = " | ".join(" ".join(f"{x:.3f}" for x in xs) for xs in (f, c, c2, b))
        print(f"{n:>8} {mf:>13.3f} {mc:>9.3f} {mc2:>12.3f} {mb:>9.3f} {mb / mf:>8.2f}x "
              f"{mc / mf:>10.2f}x {mc2 / mf:>8.2f}x   {runs} (cycle/func per round {ratios})",
              flush=True)
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:
        sys.exit(f"compare.py: {' '.join(map(str, e.cmd))} failed with exit status {e.returncode}")
    except (OSError, ValueError) as e:
        sys.exit(f"compare.py: {e}")
