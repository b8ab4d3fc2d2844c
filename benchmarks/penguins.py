"""Palmer penguins: the MDN on small, real data (issue #14).

    .venv/bin/python benchmarks/penguins.py          # the table below, ~1-2 min on one core
    .venv/bin/python benchmarks/penguins.py --json

Bill length (mm) → bill depth (mm), the 342 birds with both measured (and
flipper length; 2 of the 344 have none of the three), from the CSV the
`palmerpenguins` package ships (no network). Five random splits of 250
training birds and 92 held out, each from `derive_seed(0, "penguins/split/i")`.
On each: held-out NLL (nats per bird) of a single Gaussian fitted to y alone,
of the linear-Gaussian regression (least squares, residual variance by
maximum likelihood), and of `fit_mdn(x, y, seed=0)` with the default recipe.
`run.py` imports `penguin_results` from here.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch

from mdn_helpers.baselines import fit_linear_gaussian
from mdn_helpers.metrics import heldout_nll
from mdn_helpers.seeding import derive_seed
from mdn_helpers.train import fit_mdn

N_TRAIN = 250
N_SPLITS = 5
COLUMNS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")


def load_penguins() -> dict:
    """{"bill_length_mm", "bill_depth_mm", "flipper_length_mm": float32 (n,), "species": list[str]}:
    the birds with all three measured (342 of 344)."""
    from palmerpenguins import load_penguins as _load

    df = _load().dropna(subset=list(COLUMNS)).reset_index(drop=True)
    out = {c: torch.tensor(df[c].to_numpy(dtype="float64"), dtype=torch.float32) for c in COLUMNS}
    out["species"] = df["species"].astype(str).tolist()
    return out


def split(n: int, i: int, n_train: int = N_TRAIN) -> tuple[torch.Tensor, torch.Tensor]:
    """Split i: indices of n_train training rows and of the rest, from a seeded permutation."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(0, f"penguins/split/{i}")))
    return perm[:n_train], perm[n_train:]


def gaussian_nll(y_train: torch.Tensor, y_test: torch.Tensor) -> float:
    """Held-out NLL of N(mean, var) fitted to y_train by maximum likelihood."""
    y_train, y_test = y_train.double(), y_test.double()
    m, v = y_train.mean(), y_train.var(unbiased=False)
    return float((0.5 * torch.log(2 * math.pi * v) + (y_test - m) ** 2 / (2 * v)).mean())


def linear_gaussian_nll(x_train, y_train, x_test, y_test) -> float:
    """Held-out NLL of y ~ N(a + b·x, s²) (`fit_linear_gaussian`: least squares
    for (a, b), s² the mean squared residual). x (n,) or (n, d)."""
    return float(fit_linear_gaussian(x_train, y_train).mixture(x_test).nll(y_test).mean())


def penguin_results(progress: bool = False, log=print, **overrides) -> dict:
    """The five splits: per-split and mean held-out NLLs of the three models,
    the MDN's seconds, and whether it beat the linear-Gaussian on every split."""
    d = load_penguins()
    x, y = d["bill_length_mm"], d["bill_depth_mm"]
    rows = []
    for i in range(N_SPLITS):
        tr, te = split(x.shape[0], i)
        t0 = time.perf_counter()
        model, hist = fit_mdn(x[tr], y[tr], seed=0, progress=progress, **overrides)
        secs = time.perf_counter() - t0
        row = dict(
            gaussian=gaussian_nll(y[tr], y[te]),
            linear=linear_gaussian_nll(x[tr], y[tr], x[te], y[te]),
            mdn=heldout_nll(model, x[te], y[te]),
            seconds=secs,
            steps=hist.steps,
            n_components=hist.recipe["n_components"],
        )
        rows.append(row)
        log(
            f"  split {i}: gaussian {row['gaussian']:.3f}  linear {row['linear']:.3f}  mdn {row['mdn']:.3f}"
            f"  ({secs:.1f} s, {hist.steps} steps, {row['n_components']} components)"
        )
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("gaussian", "linear", "mdn", "seconds")}
    return {
        "n_birds": int(x.shape[0]),
        "n_train": N_TRAIN,
        "splits": rows,
        "mean": mean,
        "mdn_beats_linear_every_split": all(r["mdn"] < r["linear"] for r in rows),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = penguin_results()
    m = r["mean"]
    print(f"{r['n_birds']} birds, {N_SPLITS} splits of {N_TRAIN} train / {r['n_birds'] - N_TRAIN} held out")
    print(
        f"mean held-out NLL: gaussian {m['gaussian']:.3f}  linear-Gaussian {m['linear']:.3f}  "
        f"MDN {m['mdn']:.3f} ({m['seconds']:.1f} s a fit); MDN beats linear on every split: "
        f"{r['mdn_beats_linear_every_split']}"
    )
    if args.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
