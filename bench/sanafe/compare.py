#!/usr/bin/env python3
"""Compare lifchip's `loihi-like` latency and energy with SANA-FE's Loihi model, net by net.

For every net: lifchip compiles it onto `loihi-like` (quantize, partition, place); the same
network with the same mapping (every compartment on the SANA-FE core at the same position,
every input channel on the host core) is built in SANA-FE 2.2.9 from the compiled chip
configuration; both run the same input spikes for the same ticks; the script prints the
spike counts (they must agree), the energy ratio (lifchip's dynamic energy: SANA-FE models
no static power) and the time-per-tick ratio.

    python3 bench/sanafe/compare.py                  # all nets, print the table
    python3 bench/sanafe/compare.py --nets dense_small,conv
    python3 bench/sanafe/compare.py --write-fixtures # also rewrite tests/fixtures/sanafe/

SANA-FE is installed with pip into a venv the script creates (`$SANAFE_VENV`, default
`bench/sanafe/.venv`); lifchip is built with cargo (`--release`).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SANAFE_VERSION = "2.2.9"
FIXTURES = ROOT / "tests" / "fixtures" / "sanafe"
TARGET = "loihi-like"
# Nets whose SANA-FE results are committed (small enough to compile in the test suite);
# the others are compared by this script only.
FIXTURE_NETS = ("hand_written", "dense_small", "sparse", "conv", "random_4core")
# Bands of the issue: SANA-FE's own error against Loihi hardware.
ENERGY_BAND = 0.10
TIME_BAND = 0.15


def ensure_sanafe():
    """Re-run this script inside a venv that has SANA-FE, creating it on first use."""
    try:
        import sanafe  # noqa: F401
        return
    except ImportError:
        pass
    venv = Path(os.environ.get("SANAFE_VENV", ROOT / "bench" / "sanafe" / ".venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with sanafe {SANAFE_VERSION} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        f"sanafe=={SANAFE_VERSION}"], check=True)
    if os.environ.get("SANAFE_COMPARE_REEXEC"):
        sys.exit(f"{python} has no sanafe module; remove {venv} and retry")
    os.environ["SANAFE_COMPARE_REEXEC"] = "1"
    os.execv(str(python), [str(python), *sys.argv])


# ---------------------------------------------------------------- nets (deterministic)

def eager(threshold, bias=0):
    """A neuron that forgets its state every tick (du = dv = 4095): it spikes in a tick iff
    its summed input exceeds `threshold`. Exact in both simulators while |input| < 64."""
    return {"kind": "chip_lif", "current_decay": 4095, "voltage_decay": 4095,
            "threshold": threshold, "bias": bias}


def even_weights(rng, n, lo, hi):
    # Mixed-sign Loihi weights have a step of 2.
    return [2 * rng.randint(lo // 2, hi // 2) for _ in range(n)]


def dense_net(name, sizes, seed, threshold=40, lo=-24, hi=24):
    rng = random.Random(seed)
    pops = [{"name": "in", "shape": [sizes[0]], "neuron": {"kind": "input"}}]
    projs = []
    for i, n in enumerate(sizes[1:]):
        pops.append({"name": f"l{i}", "shape": [n], "neuron": eager(threshold)})
        m = sizes[i]
        w = even_weights(rng, n * m, lo, hi)
        projs.append({"name": f"p{i}", "from": pops[i]["name"], "to": f"l{i}",
                      "ops": [{"kind": "dense",
                               "weights": [w[r * m:(r + 1) * m] for r in range(n)]}]})
    return {"name": name, "description": f"dense {'-'.join(map(str, sizes))}",
            "populations": pops, "projections": projs}


def sparse_net(name, sizes, fanout, seed, threshold=30, lo=2, hi=40):
    """Layers joined by random synapse lists: each source reaches `fanout` random targets."""
    rng = random.Random(seed)
    pops = [{"name": "in", "shape": [sizes[0]], "neuron": {"kind": "input"}}]
    projs = []
    for i, n in enumerate(sizes[1:]):
        pops.append({"name": f"l{i}", "shape": [n], "neuron": eager(threshold)})
        pre, post = [], []
        for s in range(sizes[i]):
            for d in sorted(rng.sample(range(n), fanout)):
                pre.append(s)
                post.append(d)
        projs.append({"name": f"p{i}", "from": pops[i]["name"], "to": f"l{i}",
                      "ops": [{"kind": "sparse", "outputs": n, "pre": pre, "post": post,
                               "weights": even_weights(rng, len(pre), lo, hi)}]})
    return {"name": name, "description": f"random fan-out {fanout}, "
                                         f"{'-'.join(map(str, sizes))}",
            "populations": pops, "projections": projs}


def conv_net(name, seed):
    rng = random.Random(seed)
    k = {"shape": [4, 1, 3, 3], "values": even_weights(rng, 36, -4, 16)}
    w = even_weights(rng, 10 * 256, -20, 20)
    return {"name": name, "description": "conv 1x10x10 -> 4x8x8 (3x3) -> dense 10",
            "populations": [
                {"name": "in", "shape": [1, 10, 10], "neuron": {"kind": "input"}},
                {"name": "c1", "shape": [4, 8, 8], "neuron": eager(30)},
                {"name": "out", "shape": [10], "neuron": eager(30)}],
            "projections": [
                {"name": "conv", "from": "in", "to": "c1",
                 "ops": [{"kind": "conv2d", "out_channels": 4, "kernel": [3, 3],
                          "weights": k}]},
                {"name": "fc", "from": "c1", "to": "out",
                 "ops": [{"kind": "flatten"},
                         {"kind": "dense", "weights": [w[r * 256:(r + 1) * 256]
                                                       for r in range(10)]}]}]}


def random_spikes(channels, ticks, rate, quiet, seed):
    """Bernoulli input spikes; the last `quiet` ticks have none, so both simulators end
    with an idle network (SANA-FE processes a tick's messages in that tick, lifchip in the
    next one)."""
    rng = random.Random(seed)
    spikes = [[t, c] for t in range(ticks - quiet) for c in range(channels)
              if rng.random() < rate]
    return {"ticks": ticks, "spikes": spikes}


def nets():
    hand = ROOT / "examples" / "hand-written.yaml"
    return {
        "hand_written": (hand, json.loads((ROOT / "examples" /
                                           "hand-written-spikes.json").read_text())),
        "dense_small": (dense_net("dense_small", [64, 256, 64], 1),
                        random_spikes(64, 20, 0.2, 4, 11)),
        "dense_large": (dense_net("dense_large", [256, 1024, 256], 2),
                        random_spikes(256, 12, 0.1, 4, 12)),
        "sparse": (sparse_net("sparse", [200, 300, 100], 12, 3),
                   random_spikes(200, 20, 0.15, 4, 13)),
        "conv": (conv_net("conv", 4), random_spikes(100, 20, 0.3, 4, 14)),
        "random_4core": (sparse_net("random_4core", [128, 2048, 2048], 24, 5, lo=16, hi=40),
                         random_spikes(128, 16, 0.25, 4, 15)),
    }


# ---------------------------------------------------------------- lifchip side

def build_lifchip():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "lifchip-cli"], cwd=ROOT,
                   check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "lifchip-emulator",
                    "--example", "chip_json"], cwd=ROOT, check=True)
    return ROOT / "target" / "release" / "lifchip", \
        ROOT / "target" / "release" / "examples" / "chip_json"


def run_lifchip(binaries, net_path, spikes_path, work):
    lifchip, chip_json = binaries
    chip = work / "chip"
    subprocess.run([str(lifchip), "compile", "--net", str(net_path), "--target", TARGET,
                    "--out", str(chip)], check=True, stdout=subprocess.DEVNULL)
    report = work / "emulate.json"
    subprocess.run([str(lifchip), "emulate", "--chip", str(chip), "--input-spikes",
                    str(spikes_path), "--json", str(report)], check=True,
                   stdout=subprocess.DEVNULL)
    config = json.loads(subprocess.run([str(chip_json), str(chip)], check=True,
                                       capture_output=True, text=True).stdout)
    r = json.loads(report.read_text())
    dynamic = r["energy_joules_per_sample"] - r["energy_joules_per_sample_by_kind"]["static_power"]
    return config, {"spikes": r["spikes"], "energy_joules": dynamic,
                    "time_per_tick_seconds": r["latency_seconds_per_sample"] / r["ticks_per_sample"]}


# ---------------------------------------------------------------- SANA-FE side

def row_kinds(config, core):
    """lifchip's price class of each row (crates/emulator/src/program.rs `row_kinds`)."""
    t = config["target"]
    cost = t["core"]["synapse_cost"]
    dense_rows = cost.get("dense_rows", True)
    index_bits = cost.get("index_bits", 0)
    w = t["precision"]["weight_bits"]
    rel = []
    for a in core["axons"]:
        syn = a["synapses"]
        first = min((s["compartment"] for s in syn), default=0)
        rel.append((a["group"], tuple(sorted((s["compartment"] - first, s["weight"])
                                             for s in syn))))
    count = {}
    if t["core"]["shared_kernels"]:
        for r in rel:
            if r[1]:
                count[r] = count.get(r, 0) + 1
    kinds = []
    for a, r in zip(core["axons"], rel):
        n = len(a["synapses"])
        comps = [s["compartment"] for s in a["synapses"]]
        span = (max(comps) - min(comps) + 1) if comps else 0
        if count.get(r, 0) > 1:
            kinds.append("conv")
        elif dense_rows and n > 0 and span * w + index_bits < n * (w + index_bits):
            kinds.append("dense")
        else:
            kinds.append("sparse")
    return kinds


def sanafe_arch(config, work):
    """SANA-FE's Loihi description with its tile mesh laid out like the target's."""
    from importlib.resources import files
    text = files("sanafe.examples").joinpath("loihi.yaml").read_text()
    mesh = config["target"]["mesh"]
    per_tile = mesh["cores_per_tile"]
    assert per_tile == 4, "SANA-FE's Loihi tile holds 4 cores"
    text = text.replace("width: 8", f"width: {mesh['width'] // per_tile}", 1)
    text = text.replace("height: 4", f"height: {mesh['height']}", 1)
    path = work / "loihi.yaml"
    path.write_text(text)
    return path, mesh["height"], per_tile


def run_sanafe(config, spikes):
    import sanafe
    with tempfile.TemporaryDirectory() as tmp:
        arch_path, height, per_tile = sanafe_arch(config, Path(tmp))
        arch = sanafe.load_arch(str(arch_path))
    hw_cores = arch.cores()

    def hw_core(core):
        tile = (core["x"] // per_tile) * height + core["y"]
        return hw_cores[tile * per_tile + core["x"] % per_tile]

    t = config["target"]
    shift = t["precision"]["input_shift"]
    unity = 1 << t["neuron"]["decay_bits"]
    net = sanafe.Network()
    # Synapse hardware: SANA-FE picks it per receiving neuron, so a compartment takes the
    # kind of most synapses that reach it.
    kind_votes = {}
    for c, core in enumerate(config["cores"]):
        for a, kind in zip(core["axons"], row_kinds(config, core)):
            for s in a["synapses"]:
                votes = kind_votes.setdefault((c, s["compartment"]), {})
                votes[kind] = votes.get(kind, 0) + 1
    ticks = spikes["ticks"]
    trains = [[False] * ticks for _ in config["inputs"]]
    for tick, ch in spikes["spikes"]:
        trains[ch][tick] = True
    inputs = net.create_neuron_group("inputs", len(config["inputs"]))
    # The host: lifchip's input packets enter at core 0's router and the host sends them in
    # parallel with the cores, so the input neurons go on a free core of core 0's tile
    # (else of the nearest tile along x; a SANA-FE core holds at most 1024 neurons).
    c0 = config["cores"][0]
    used = {(c["x"], c["y"]) for c in config["cores"]}
    tile_x = c0["x"] - c0["x"] % per_tile
    width = config["target"]["mesh"]["width"]
    order = sorted(range(width), key=lambda x: (abs(x // per_tile - tile_x // per_tile), x))
    free = [x for x in order if (x, c0["y"]) not in used]
    host = hw_core({"x": free[0], "y": c0["y"]})
    for ch, n in enumerate(inputs.neurons):
        n.set_attributes(soma_hw_name=f"loihi_inputs[{ch}]",
                         model_attributes={"spikes": trains[ch]})
        n.map_to_core(host)

    neurons = []
    for c, core in enumerate(config["cores"]):
        group = net.create_neuron_group(f"core{c}", len(core["compartments"]))
        hw = hw_core(core)
        for k, comp in enumerate(core["compartments"]):
            n = group.neurons[k]
            votes = kind_votes.get((c, k), {"sparse": 1})
            kind = max(sorted(votes), key=lambda v: votes[v])
            n.set_attributes(
                soma_hw_name="loihi_lif",
                default_synapse_hw_name=f"loihi_{kind}_synapse",
                log_spikes=True,
                model_attributes={
                    "threshold": float(comp["threshold"]),
                    "reset": 0.0,
                    "reset_mode": "hard",
                    "input_decay": (unity - comp["current_decay"]
                                    - t["neuron"]["current_decay_offset"]) / unity,
                    "leak_decay": (unity - comp["voltage_decay"]
                                   - t["neuron"]["voltage_decay_offset"]) / unity,
                    "bias": (comp["bias"] << comp["bias_exp"]) / (1 << shift),
                })
            n.map_to_core(hw)
        neurons.append(group)
    def connect(src, destinations):
        for d in destinations:
            core = config["cores"][d["core"]]
            axon = core["axons"][d["axon"]]
            e = core["group_exponents"][axon["group"]]
            for s in axon["synapses"]:
                src.connect_to_neuron(neurons[d["core"]].neurons[s["compartment"]],
                                      {"weight": float(s["weight"]) * 2.0 ** e})

    for ch, dests in enumerate(config["inputs"]):
        connect(inputs.neurons[ch], dests)
    for c, core in enumerate(config["cores"]):
        for k, comp in enumerate(core["compartments"]):
            connect(neurons[c].neurons[k], comp["destinations"])
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    result = chip.sim(ticks, perf_trace=True)
    trace = result["perf_trace"]
    input_spikes = len(spikes["spikes"])
    return {"spikes": sum(trace["fired"]) - input_spikes,
            "energy_joules": result["energy"]["total"],
            "energy_by_kind": {k: result["energy"][k] for k in
                               ("synapse", "dendrite", "soma", "network")},
            "time_per_tick_seconds": result["sim_time"] / ticks}


# ---------------------------------------------------------------- main

def main():
    ensure_sanafe()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", help="comma-separated subset of: " + ", ".join(nets()))
    parser.add_argument("--write-fixtures", action="store_true",
                        help=f"rewrite {FIXTURES.relative_to(ROOT)} (nets, spikes, results)")
    args = parser.parse_args()
    import sanafe  # noqa: F401 (installed by ensure_sanafe)
    chosen = nets()
    if args.nets:
        unknown = [k for k in args.nets.split(",") if k not in chosen]
        if unknown:
            parser.error(f"unknown net(s) {', '.join(unknown)}; choose from {', '.join(chosen)}")
        chosen = {k: chosen[k] for k in args.nets.split(",")}
    binaries = build_lifchip()
    if args.write_fixtures:
        FIXTURES.mkdir(parents=True, exist_ok=True)
    rows, fixtures = [], {}
    ok = True
    for name, (net, spikes) in chosen.items():
        keep = args.write_fixtures and name in FIXTURE_NETS
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if isinstance(net, Path):
                net_path, net_file = net, str(net.relative_to(ROOT))
            else:
                net_path = (FIXTURES if keep else work) / f"{name}.net.yaml"
                net_path.parent.mkdir(parents=True, exist_ok=True)
                net_path.write_text(json.dumps(net) + "\n")
                net_file = str(Path("tests/fixtures/sanafe") / f"{name}.net.yaml")
            spikes_path = (FIXTURES if keep else work) / f"{name}.spikes.json"
            spikes_path.write_text(json.dumps(spikes) + "\n")
            config, ours = run_lifchip(binaries, net_path, spikes_path, work)
        theirs = run_sanafe(config, spikes)
        e = ours["energy_joules"] / theirs["energy_joules"]
        tt = ours["time_per_tick_seconds"] / theirs["time_per_tick_seconds"]
        inside = abs(e - 1) <= ENERGY_BAND and abs(tt - 1) <= TIME_BAND
        ok &= inside
        rows.append((name, len(config["cores"]), ours["spikes"], theirs["spikes"], e, tt,
                     ours["time_per_tick_seconds"], theirs["time_per_tick_seconds"], inside))
        if not keep:
            continue
        fixtures[name] = {
            "net": net_file,
            "spikes": str(Path("tests/fixtures/sanafe") / f"{name}.spikes.json"),
            "ticks": spikes["ticks"],
            "cores": [[c["x"], c["y"]] for c in config["cores"]],
            "sanafe": theirs,
        }
    print(f"{'net':<14} {'cores':>5} {'spikes':>13} {'energy':>7} {'time/tick':>9} "
          f"{'lifchip':>9} {'SANA-FE':>9}")
    for name, cores, s1, s2, e, tt, t1, t2, inside in rows:
        print(f"{name:<14} {cores:>5} {s1:>6}/{s2:<6} {e:>7.3f} {tt:>9.3f} "
              f"{t1 * 1e9:>7.0f}ns {t2 * 1e9:>7.0f}ns {'' if inside else ' OUTSIDE'}")
    print(f"ratios are lifchip {TARGET} / SANA-FE {SANAFE_VERSION} Loihi; "
          f"bands: energy +-{ENERGY_BAND:.0%}, time per tick +-{TIME_BAND:.0%}")
    if args.write_fixtures:
        out = {"provenance": {
            "tool": f"SANA-FE {SANAFE_VERSION} (pip sanafe), its sanafe/examples/loihi.yaml "
                    f"with the tile mesh laid out as the target's; timing_model detailed",
            "script": "bench/sanafe/compare.py --write-fixtures",
            "energy": "SANA-FE total energy (it models no static power)",
            "time_per_tick_seconds": "SANA-FE sim_time / ticks",
            "spikes": "neurons fired, input spikes excluded"},
            "nets": fixtures}
        (FIXTURES / "results.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
