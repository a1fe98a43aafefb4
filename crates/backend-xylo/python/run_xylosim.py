"""Runs lifchip Xylo exports on the vendor's simulator, many per process.

    python run_xylosim.py CASES.txt

Each line of CASES.txt is a directory holding ``xylo/`` (an export written by lifchip) and
``input.npy`` (a ``(ticks, channels)`` uint8 raster of input spike counts). For each, the export
goes through Rockpool's ``config_from_specification`` (validity recorded) and
``XyloSim.from_config`` (xylosim underneath), runs the raster with recording, and writes
``vendor.json`` beside it: the hidden neurons' spike counts, V_mem, I_syn, I_syn2 and the
readout neurons' spikes, V_mem and I_syn, every tick (lists indexed [tick][neuron]).
The lifchip test that wrote the cases compares them with `lifchip emulate`.
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lifchip_xylo  # noqa: E402


def as_ticks(array, ticks, neurons):
    array = np.asarray(array, dtype=np.int64).reshape(ticks, neurons) if neurons else None
    return [] if array is None else array.tolist()


def run_case(case):
    export = case / "xylo"
    raster = np.load(case / "input.npy").astype(np.uint8)
    manifest = lifchip_xylo.read_manifest(export)
    config, valid, message = lifchip_xylo.config_from_export(export)
    result = {"valid": bool(valid), "message": str(message)}
    if valid:
        if manifest["generation"] == "v2":
            from rockpool.devices.xylo.syns61201 import XyloSim
        else:
            from rockpool.devices.xylo.syns61300 import XyloSim
        sim = XyloSim.from_config(config, dt=lifchip_xylo.dt_of(export))
        out, _, rec = sim(raster, record=True)
        ticks = raster.shape[0]
        n_h = len(manifest["hidden"])
        n_o = len(manifest["readout"])
        result.update(
            {
                "spikes": as_ticks(rec["Spikes"], ticks, n_h),
                "vmem": as_ticks(rec["Vmem"], ticks, n_h),
                "isyn": as_ticks(rec["Isyn"], ticks, n_h),
                "isyn2": as_ticks(rec["Isyn2"], ticks, n_h),
                "out_spikes": as_ticks(out, ticks, n_o),
                "vmem_out": as_ticks(rec["Vmem_out"], ticks, n_o),
                "isyn_out": as_ticks(rec["Isyn_out"], ticks, n_o),
            }
        )
    (case / "vendor.json").write_text(json.dumps(result))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: run_xylosim.py CASES.txt")
    shim = lifchip_xylo.samna_is_shim()
    cases = [Path(line.strip()) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]
    for case in cases:
        run_case(case)
    print(json.dumps({"cases": len(cases), "samna": "shim" if shim else "real"}))


if __name__ == "__main__":
    main()
