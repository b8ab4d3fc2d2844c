"""Record what SLOGAN's full default recipe gives, for notebook 03 to read.

    PYTHONPATH=. .venv/bin/python benchmarks/record_slogan.py    # ~2 min on one free core

Notebook 03 trains a shorter run to stay within the notebooks' time budget;
it prints these recorded figures of the full recipe beside its own, scored the
same way: the energy distance of the run's last evaluation (history["energy"],
`n_eval` points a side) and the share of generated points where the exact
density is negligible (`low_density_share`, k = 3, over `repeats` draws of
`n_share` points, draw r seeded r). Writes benchmarks/recorded_slogan.json.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from pathlib import Path

import torch

from mdn_helpers.metrics import low_density_share
from mdn_helpers.slogan_train import fit_slogan

SEED, N_SHARE, REPEATS = 0, 10_000, 5
OUT = Path(__file__).with_name("recorded_slogan.json")


def main() -> dict:
    generator, _, history = fit_slogan(seed=SEED, progress=False)
    with torch.no_grad():
        shares = [
            low_density_share(generator.sample(N_SHARE, generator=torch.Generator().manual_seed(r)))
            for r in range(REPEATS)
        ]
    record = {
        "what": "SLOGAN, fit_slogan(seed=0) with the default recipe",
        "recipe": history.recipe,
        "data": history.data,
        "seed": SEED,
        "energy_last_eval": history["energy"][-1],
        "n_eval": history.recipe["n_eval"],
        "low_density_share_mean": statistics.mean(shares),
        "low_density_share_sd": statistics.stdev(shares),
        "n_share": N_SHARE,
        "repeats": REPEATS,
        "train_seconds": history.seconds,
        "torch_version": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "date": datetime.date.today().isoformat(),
    }
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
