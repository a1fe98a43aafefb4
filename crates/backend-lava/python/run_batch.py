"""Runs many exported lifchip Lava programs in one Python process (Lava's start-up dominates).

    python run_batch.py PROGRAM_DIR...

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
    main(sys.argv[1:])
