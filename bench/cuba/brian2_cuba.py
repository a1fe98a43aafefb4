#!/usr/bin/env python3
"""Brian2's CUBA example (Vogels & Abbott 2005) at any size, timed, for comparison with
lifchip's `cuba` benchmark (bench/cuba/README.md).

    python3 bench/cuba/brian2_cuba.py --neurons 4000 --p 0.02 --ticks 10000

The first run creates a virtual environment under target/brian2-venv (pip install brian2)
and re-runs itself there. It runs in C++ standalone mode on one thread, dt = 0.1 ms (one
lifchip tick), and prints the simulation time (without code generation and compilation),
spikes, synaptic events (spikes times their outgoing synapses) and events/s.

Weights: Brian2's example values (we = 1.62 mV, wi = -9 mV) at 4,000 neurons and p = 0.02,
scaled by 80 / (N p) so that every neuron gets the same mean input at any N and p (the
--no-scale flag keeps them as they are).
"""

import argparse
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Not under target/venvs: that directory holds the shared vendor venvs.
VENV = ROOT / "target" / "brian2-venv"


def ensure_venv():
    """Re-executes this script inside the venv, creating it when missing."""
    try:
        import brian2  # noqa: F401

        return
    except ImportError:
        pass
    python = VENV / "bin" / "python"
    if os.environ.get("LIFCHIP_BRIAN2_VENV") == "1":
        sys.exit("brian2 is still not importable inside %s" % VENV)
    if not python.exists():
        print("creating %s (pip install brian2)..." % VENV, file=sys.stderr)
        venv.create(VENV, with_pip=True)
        # brian2 2.9 uses ndarray.ptp, which NumPy 2 removed.
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", "brian2", "numpy<2"])
    env = dict(os.environ, LIFCHIP_BRIAN2_VENV="1")
    os.execve(str(python), [str(python), __file__] + sys.argv[1:], env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--p", type=float, default=0.02)
    ap.add_argument("--ticks", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-scale", action="store_true")
    ap.add_argument("--build-dir", default=str(ROOT / "target" / "brian2_cuba"))
    args = ap.parse_args()
    if not (2 <= args.neurons <= 10_000_000 and 0 < args.p <= 1 and 1 <= args.ticks <= 10**8):
        sys.exit("neurons in 2..1e7, p in (0, 1], ticks in 1..1e8")
    ensure_venv()

    import numpy as np
    from brian2 import (
        NeuronGroup, SpikeMonitor, Synapses, defaultclock, device, ms, mV, prefs, run, second,
        seed, set_device,
    )

    set_device("cpp_standalone", directory=args.build_dir, build_on_run=False)
    prefs.devices.cpp_standalone.openmp_threads = args.threads if args.threads > 1 else 0
    defaultclock.dt = 0.1 * ms
    seed(args.seed)

    n = args.neurons
    ne = (4 * n + 4) // 5
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    vt, vr, el = -50 * mV, -60 * mV, -49 * mV
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    scale = 1.0 if args.no_scale else 80.0 / (n * args.p)
    we = (60 * 0.27 / 10) * mV * scale
    wi = (-20 * 4.5 / 10) * mV * scale
    P = NeuronGroup(
        n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact",
        namespace=dict(taum=taum, taue=taue, taui=taui, Vt=vt, Vr=vr, El=el),
    )
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    Ce = Synapses(P, P, on_pre="ge += we", namespace=dict(we=we))
    Ci = Synapses(P, P, on_pre="gi += wi", namespace=dict(wi=wi))
    Ce.connect("i<%d" % ne, p=args.p)
    Ci.connect("i>=%d" % ne, p=args.p)
    mon = SpikeMonitor(P)
    run(args.ticks * defaultclock.dt, profile=False)
    t0 = time.perf_counter()
    device.build(directory=args.build_dir, compile=True, run=True, debug=False)
    build_and_run = time.perf_counter() - t0
    sim = device._last_run_time  # the simulation loop alone
    spikes = np.asarray(mon.i[:])
    outdeg = np.bincount(np.concatenate([np.asarray(Ce.i[:]), np.asarray(Ci.i[:])]), minlength=n)
    events = int(outdeg[spikes].sum())
    synapses = int(outdeg.sum())
    seconds = args.ticks * 1e-4
    print(
        "brian2 %s cpp_standalone, %d thread(s): %d neurons, %d synapses, %d ticks: "
        "%.3f s simulation (%.1f s with code generation and compilation); %d spikes (%.2f Hz), "
        "%d synaptic events: %.3e synaptic events/s, %.0f ticks/s"
        % (
            __import__("brian2").__version__, args.threads, n, synapses, args.ticks, sim,
            build_and_run, len(spikes), len(spikes) / (n * seconds), events, events / sim,
            args.ticks / sim,
        )
    )


if __name__ == "__main__":
    main()
