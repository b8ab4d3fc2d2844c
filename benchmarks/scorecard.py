"""The scorecard of the exact law and four models on the same 100,000 held-out
points (issue #11), printed as a markdown table.

    .venv/bin/python benchmarks/scorecard.py            # ~ 1.5 min of training, then scoring
    .venv/bin/python benchmarks/scorecard.py --steps 50  # plumbing only: short training runs

Held-out points: make_splits(seed=0).test (100,000 points no run sees).
Models, all trained on make_splits(seed=0).train (1000 points) with seed 0:
the default MDN recipe; a 5-member ensemble of it (fit_mdn_ensemble); the
default recipe with one component (K = 1, heteroscedastic regression); and
the default MDN sampled with std_bias = 1 (every σ divided by e).
Progress and timings go to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from mdn_helpers import ExactLaw, fit_mdn, fit_mdn_ensemble, make_splits, scorecard, scorecard_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's 3000)")
    args = parser.parse_args(argv)
    steps = {} if args.steps is None else {"steps": args.steps}
    splits = make_splits(seed=0)
    x, y = splits.train.tensors()
    xt, yt = splits.test.tensors()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    model, _ = fit_mdn(x, y, seed=0, progress=False, **steps)
    log(f"default MDN trained in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    ensemble, _ = fit_mdn_ensemble(x, y, n_members=5, seed=0, progress=False, **steps)
    log(f"5-model ensemble trained in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    single, _ = fit_mdn(x, y, seed=0, progress=False, n_components=1, **steps)
    log(f"K = 1 trained in {time.perf_counter() - t0:.1f} s")

    rows = [
        ("exact law", ExactLaw(), {}),
        ("default MDN (K = 15)", model, {}),
        ("5-model ensemble", ensemble, {}),
        ("K = 1", single, {}),
        ("default MDN, std_bias = 1", model, {"std_bias": 1.0}),
    ]
    cards = {}
    for name, law, kw in rows:
        t0 = time.perf_counter()
        cards[name] = scorecard(law, xt, yt, **kw)
        log(f"scored {name} in {time.perf_counter() - t0:.1f} s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{yt.shape[0]:,} held-out points (make_splits(seed=0).test); torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f}\n"
    )
    print(scorecard_table(cards))
    return 0


if __name__ == "__main__":
    sys.exit(main())
