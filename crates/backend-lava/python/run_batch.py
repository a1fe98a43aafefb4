"""Runs many exported lifchip Lava programs in one Python process (Lava's start-up dominates).

    python run_batch.py PROGRAM_DIR...
    python run_batch.py --list FILE      # one program directory per line

For each directory, imports its own network.py, runs it with Lava's bit-accurate models and
writes lava_out/{spikes,u,v}.npy inside it (or lava_out/error.txt when the run failed).
Used by crates/backend-lava/tests/lava_agreement.rs.
"""

import importlib.util
import os
import sys
import time
import traceback

import numpy as np


def run_one(index, directory):
    spec = importlib.util.spec_from_file_location(f"lifchip_net_{index}", os.path.join(directory, "network.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run(directory)
    out = os.path.join(directory, "lava_out")
    os.makedirs(out, exist_ok=True)
    for key, values in result.items():
        np.save(os.path.join(out, f"{key}.npy"), values)


def main(dirs):
    start = time.time()
    failed = 0
    for i, directory in enumerate(dirs):
        try:
            run_one(i, directory)
        except Exception:  # report and go on: the Rust side names the failed net
            failed += 1
            os.makedirs(os.path.join(directory, "lava_out"), exist_ok=True)
            with open(os.path.join(directory, "lava_out", "error.txt"), "w") as f:
                f.write(traceback.format_exc())
        if (i + 1) % 25 == 0:
            print(f"lava: {i + 1}/{len(dirs)} programs, {time.time() - start:.0f} s", flush=True)
    print(f"lava: {len(dirs)} programs ({failed} failed) in {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--list"] and len(args) == 2:
        with open(args[1]) as f:
            args = [line.strip() for line in f if line.strip()]
    main(args)
