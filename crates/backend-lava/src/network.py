"""A lifchip chip configuration as a Lava program (written by lifchip-backend-lava).

The mapped network is rebuilt from Lava's own processes: one LIF per distinct (du, dv, vth),
one Dense per accumulator group set (weights, weight_exp, num_weight_bits, sign_mode), a
RingBuffer for the input spike counts, and one Monitor recording u, v and the spikes of every
compartment. It runs with Lava's bit-accurate fixed-point models (Loihi2SimCfg,
select_tag="fixed_pt": PyLifModelBitAcc, PyDenseModelBitAcc).

    python network.py [OUT_DIR]      # runs the stored input; writes spikes/u/v .npy to OUT_DIR

From Python: ``run(directory)`` returns a dict of (ticks, compartments) int64 arrays
``spikes``, ``u``, ``v`` in the global compartment order of ``compartments.npy``
(columns: core, compartment, population, neuron). Tick t of lifchip is Lava time step t + 1.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT = "lifchip-lava"
VERSION = 1


def load(directory=HERE):
    """Reads program.json and the arrays; checks the format."""
    with open(os.path.join(directory, "program.json")) as f:
        spec = json.load(f)
    if spec.get("format") != FORMAT or spec.get("version") != VERSION:
        raise ValueError(
            f"{directory}: not a {FORMAT} version {VERSION} program "
            f"(found {spec.get('format')!r} version {spec.get('version')!r})"
        )

    def array(name):
        return np.load(os.path.join(directory, name), allow_pickle=False)

    arrays = {"input": array("input.npy"), "compartments": array("compartments.npy")}
    for lif in spec["lifs"]:
        for field in ("compartments", "bias_mant", "bias_exp", "u", "v"):
            arrays[f"{lif['name']}_{field}"] = array(f"{lif['name']}_{field}.npy")
    for dense in spec["denses"]:
        arrays[f"{dense['name']}_weights"] = array(f"{dense['name']}_weights.npy")
    return spec, arrays


def build(spec, arrays, ticks, input_counts=None):
    """Creates and connects the processes; returns (lifs by name, monitor)."""
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor
    from lava.utils.weightutils import SignMode, clip_weights, truncate_weights

    counts = arrays["input"] if input_counts is None else np.asarray(input_counts)
    lifs = {}
    for lif in spec["lifs"]:
        name = lif["name"]
        lifs[name] = LIF(
            shape=(lif["size"],),
            du=lif["du"],
            dv=lif["dv"],
            vth=lif["vth"],
            bias_mant=arrays[f"{name}_bias_mant"].astype(np.int32),
            bias_exp=arrays[f"{name}_bias_exp"].astype(np.int32),
            u=arrays[f"{name}_u"].astype(np.int32),
            v=arrays[f"{name}_v"].astype(np.int32),
            name=name,
        )
    source = None
    for dense in spec["denses"]:
        weights = arrays[f"{dense['name']}_weights"].astype(np.int32)
        mode = SignMode(dense["sign_mode"])
        bits = dense["num_weight_bits"]
        # The exporter chose a sign mode in which Lava keeps every weight as stored.
        kept = truncate_weights(clip_weights(weights, mode, num_bits=8), mode, bits)
        if not np.array_equal(kept, weights):
            raise ValueError(f"{dense['name']}: Lava would change weights in sign mode {mode}")
        proc = Dense(
            weights=weights,
            weight_exp=dense["weight_exp"],
            num_weight_bits=bits,
            sign_mode=mode,
            num_message_bits=dense["num_message_bits"],
            name=dense["name"],
        )
        if dense["source"] == "input":
            if source is None:
                source = RingBuffer(data=counts.astype(np.int32))
            source.s_out.connect(proc.s_in)
        else:
            lifs[dense["source"]].s_out.connect(proc.s_in)
        proc.a_out.connect(lifs[dense["target"]].a_in)
    # Lava runs the processes connected to the one it is started from: join every other
    # connected component to the first LIF through an all-zero Dense (adds 0 to its input).
    names = list(lifs)
    parent = {name: name for name in names}

    def root(name):
        while parent[name] != name:
            name = parent[name]
        return name

    for dense in spec["denses"]:
        if dense["source"] != "input":
            parent[root(dense["source"])] = root(dense["target"])
    for name in names[1:]:
        if root(name) != root(names[0]):
            size = (spec["lifs"][names.index(names[0])]["size"], spec["lifs"][names.index(name)]["size"])
            link = Dense(weights=np.zeros(size, dtype=np.int32), name=f"link_{name}")
            lifs[name].s_out.connect(link.s_in)
            link.a_out.connect(lifs[names[0]].a_in)
            parent[root(name)] = root(names[0])
    # A Lava Monitor (0.10) records exactly one probe: three per LIF.
    monitors = []
    for name, proc in lifs.items():
        probes = (proc.u, proc.v, proc.s_out)
        recorders = [Monitor() for _ in probes]
        for recorder, target in zip(recorders, probes):
            recorder.probe(target, ticks)
        monitors.append((name, proc, recorders))
    return lifs, monitors


def run(directory=HERE, ticks=None, input_counts=None):
    """Runs the program; returns {"spikes", "u", "v"}: (ticks, compartments) int64 arrays."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    spec, arrays = load(directory)
    ticks = spec["ticks"] if ticks is None else ticks
    n = spec["compartments"]
    out = {k: np.zeros((ticks, n), dtype=np.int64) for k in ("spikes", "u", "v")}
    if ticks == 0 or not spec["lifs"]:
        return out
    lifs, monitors = build(spec, arrays, ticks, input_counts)
    anchor = monitors[0][2][0]
    anchor.run(condition=RunSteps(num_steps=ticks), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        for name, proc, recorders in monitors:
            cols = arrays[f"{name}_compartments"]
            data = {}
            for recorder in recorders:
                data.update(recorder.get_data()[proc.name])
            for key, var in (("u", "u"), ("v", "v"), ("spikes", "s_out")):
                values = np.asarray(data[var]).reshape(ticks, -1)
                out[key][:, cols] = np.rint(values).astype(np.int64)
    finally:
        anchor.stop()
    return out


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else os.path.join(HERE, "lava_out")
    result = run(HERE)
    os.makedirs(out_dir, exist_ok=True)
    for key, values in result.items():
        np.save(os.path.join(out_dir, f"{key}.npy"), values)
    print(f"{HERE}: {values.shape[0]} ticks, {values.shape[1]} compartments -> {out_dir}")


if __name__ == "__main__":
    main(sys.argv)
