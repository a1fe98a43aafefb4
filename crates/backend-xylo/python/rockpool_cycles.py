"""SynSense's own cycle model of the Xylo Audio 2 SNN core, run on lifchip exports.

Usage: python rockpool_cycles.py CASES.txt

CASES.txt lists case directories, one per line. Each holds a Xylo v2 export (``xylo/``, from
``lifchip export-chip --backend xylo``) and the activity of one run as ``.npy`` rasters (ticks x
channels, spike counts): ``input.npy``, ``hidden.npy`` (one column per Xylo hidden neuron, alias
neurons included) and ``output.npy``. For each case this writes ``rockpool_cycles.json``:
``cycles`` is what Rockpool's ``cycles_model`` (``rockpool.devices.xylo.syns61201``) estimates
for one time step of that configuration at that activity, in master clock cycles.

Rockpool's model takes the fraction of (tick, neuron) entries with a spike, so the figure is an
average over the run, as lifchip's mean cycles per tick is.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lifchip_xylo  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        cases = [line.strip() for line in f if line.strip()]
    lifchip_xylo._prepare_samna()
    from rockpool.devices.xylo.syns61201.power_cycles_model import cycles_model

    for case in cases:
        config, ok, message = lifchip_xylo.config_from_export(os.path.join(case, "xylo"))
        if not ok:
            raise SystemExit(f"{case}: Rockpool refused the configuration: {message}")
        rasters = [np.load(os.path.join(case, f"{n}.npy")) for n in ("input", "hidden", "output")]
        cycles, isyn2_ops = cycles_model(config, *rasters)
        with open(os.path.join(case, "rockpool_cycles.json"), "w") as f:
            json.dump({"cycles": float(cycles), "isyn2_ops": float(isyn2_ops)}, f)
    print(f"{len(cases)} cases through Rockpool's cycles_model")


if __name__ == "__main__":
    main()
