"""The spread behind the notebooks' claims about trained models: seeds × CPU instruction sets.

    .venv/bin/python benchmarks/spread.py                       # all tables, seeds 0-4, ~10 min on one core
    ATEN_CPU_CAPABILITY=default .venv/bin/python benchmarks/spread.py
    .venv/bin/python benchmarks/spread.py --tables ladder,ensemble --seeds 3

A trained model's numbers differ from machine to machine: torch dispatches its CPU kernels by
instruction set (AVX-512, AVX2, none), reductions then add in other orders, and full-batch Adam
on the inverted sine turns those last bits into another trajectory within ~100 steps. So a
notebook's single run is one draw, and a claim such as "each ingredient helps" or "the GAN puts
far more mass off the curve" must hold over seeds *and* instruction sets.

Each table re-runs one notebook comparison for seeds 0..n-1 under the capability this process
runs with (`torch.backends.cpu.get_cpu_capability()`), and stores the rows under that name in
benchmarks/recorded_spread.json, keeping the other capabilities' rows. The file's "summary" pools
every stored row: per metric mean, sd, min and max; per comparison (a − b) the paired mean, its
standard error, min and max. The notebooks read that summary and print it beside their own run.

Tables (the notebook's own settings; "seed" is the notebook's SEED or the trainers' seed=):
  ladder     02: held-out NLL of the plain loop in data units, + scaling, + cosine, + jitter
  ensemble   02: three members and their ensemble
  gan_mdn    03: SLOGAN (half the default steps) and the fresh-data MDN: energy distance, low-density share
  k_sweep    04: K = 1, 3, 15, 50 (and 15 with std_bias = 1): NLL and CRPS on 10,000 held-out points
  penguins   05: the default MDN, the linear-Gaussian and a Gaussian on split `seed`, trained with seed=`seed`
  arm        06: the robot arm's MDN (recipe "arm", fixed data, training seed varies): held-out NLL, its gap to
             the Bayes NLL, the median reach error of the top component's mean on 2000 test x and its ratio
             to that of the exact conditional mean, training seconds
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch

from mdn_helpers import (
    MDN,
    fit_mdn,
    fit_mdn_ensemble,
    fit_slogan,
    heldout_nll,
    low_density_share,
    make_splits,
    mdn_energy_distance,
    mdn_joint_sample,
    scorecard,
    slogan_energy_distance,
)
from mdn_helpers.datasets import robot_arm
from mdn_helpers.datasets.inverted_sine import joint_sample
from mdn_helpers.seeding import derive_seed, seeded_init
from mdn_helpers.slogan_train import DEFAULT_RECIPE as SLOGAN_RECIPE

sys.path.insert(0, str(Path(__file__).parent))
from penguins import gaussian_nll, linear_gaussian_nll, load_penguins, split

OUT = Path(__file__).with_name("recorded_spread.json")
K = 15
SHORT_STEPS = 1000  # 02's comparison runs
N_SHARE = 10_000  # 03's low-density share: points a draw, 5 draws
N_REACH = 2000  # 06's reach errors: the first points of the test set


def plain_loop_nll(x, y, test, steps: int, seed: int) -> float:
    """02's `train_plain(scale=False)`: full-batch Adam (lr 1e-2) on the NLL in data units."""
    with seeded_init(derive_seed(seed, "init/0")):
        net = MDN(n_hidden=32, n_components=K)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = net.nll(x, y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return heldout_nll(net.eval(), *test)


def ladder_names() -> tuple[str, ...]:
    """The ladder's rungs, in order."""
    return ("data units", "+ scaling", "+ cosine", "+ jitter")


def ladder(seed: int) -> dict:
    splits = make_splits(1000, 2000, 100_000, seed=seed)
    x, y = splits.train.tensors()
    test = splits.test.tensors()
    no_jitter = dict(x_jitter=0.0, y_jitter=0.0)

    def fit(**kw) -> float:
        return heldout_nll(fit_mdn(x, y, seed=seed, steps=SHORT_STEPS, progress=False, **kw)[0], *test)

    return {
        "data units": plain_loop_nll(x, y, test, SHORT_STEPS, seed),
        "+ scaling": fit(schedule="constant", **no_jitter),  # = 02's train_plain (asserted there)
        "+ cosine": fit(**no_jitter),
        "+ jitter": fit(),
    }


def ensemble(seed: int) -> dict:
    splits = make_splits(1000, 2000, 100_000, seed=seed)
    x, y = splits.train.tensors()
    test = splits.test.tensors()
    ens, _ = fit_mdn_ensemble(x, y, n_members=3, seed=seed, steps=SHORT_STEPS, progress=False)
    members = [heldout_nll(m, *test) for m in ens.members]
    return {
        "members' mean": statistics.mean(members),
        "best member": min(members),
        "ensemble": heldout_nll(ens, *test),
        "members' spread": max(members) - min(members),
    }


def gan_mdn(seed: int) -> dict:
    n_eval = SLOGAN_RECIPE.n_eval
    generator, _, _ = fit_slogan(steps=SLOGAN_RECIPE.steps // 2, seed=seed, eval_every=400, progress=False)
    mdn, _ = fit_mdn(recipe="fresh", seed=seed, progress=False)
    with torch.no_grad():
        gan_share = [
            low_density_share(generator.sample(N_SHARE, generator=torch.Generator().manual_seed(r))) for r in range(5)
        ]
        mdn_share = [
            low_density_share(mdn_joint_sample(mdn, N_SHARE, seed=derive_seed(seed, f"share/{r}"))) for r in range(5)
        ]
        true_share = [low_density_share(joint_sample(N_SHARE, derive_seed(seed, f"share/{r}"))) for r in range(5)]
    return {
        "SLOGAN energy": slogan_energy_distance(generator, n=n_eval, seed=seed),
        "MDN energy": mdn_energy_distance(mdn, n=n_eval, seed=seed),
        "SLOGAN share": statistics.mean(gan_share),
        "MDN share": statistics.mean(mdn_share),
        "true share": statistics.mean(true_share),
    }


def k_sweep(seed: int) -> dict:
    splits = make_splits(seed=0)  # 04's data: fixed; the training seed varies
    x, y = splits.train.tensors()
    xt, yt = (t[:10_000] for t in splits.test.tensors())
    row = {}
    for k in (1, 3, 15, 50):
        m, _ = fit_mdn(x, y, recipe="default", seed=seed, steps=300, progress=False, n_components=k)
        card = scorecard(m, xt, yt)
        row[f"K = {k} NLL"], row[f"K = {k} CRPS"] = card["nll"], card["crps"]
        if k == 15:
            sharp = scorecard(m, xt, yt, std_bias=1.0)
            row["K = 15, std_bias = 1 NLL"], row["K = 15, std_bias = 1 CRPS"] = sharp["nll"], sharp["crps"]
    return row


def penguins(seed: int) -> dict:
    d = load_penguins()
    x, y = d["bill_length_mm"], d["bill_depth_mm"]
    tr, te = split(x.shape[0], seed)
    model, _ = fit_mdn(x[tr], y[tr], seed=seed, progress=False)
    return {
        "MDN": heldout_nll(model, x[te], y[te]),
        "linear-Gaussian": linear_gaussian_nll(x[tr], y[tr], x[te], y[te]),
        "Gaussian": gaussian_nll(y[tr], y[te]),
    }


@cache
def arm_reference() -> tuple[robot_arm.ArmSplits, float, float]:
    """06's fixed data, its Bayes NLL (deterministic quadrature) and the exact conditional mean's
    median reach error on the first N_REACH test x: computed once per process."""
    splits = robot_arm.make_arm_splits(seed=0)  # 10k train, 20k test
    bayes = robot_arm.arm_bayes_nll(n=20_000, seed=derive_seed(0, "test")).nll  # the test set's own x's
    x = splits.x_test[:N_REACH]
    mean_reach = float(robot_arm.reach_error(x, robot_arm.ArmExactLaw().mean(x)).median())
    return splits, bayes, mean_reach


def arm(seed: int) -> dict:
    splits, bayes, mean_reach = arm_reference()
    t0 = time.perf_counter()
    model, _ = fit_mdn(splits.x_train, splits.theta_train, recipe="arm", seed=seed, progress=False)
    seconds = time.perf_counter() - t0
    nll = heldout_nll(model, splits.x_test, splits.theta_test)
    x = splits.x_test[:N_REACH]
    with torch.no_grad():
        mix = model.mixture(x)
        mode = mix.loc[torch.arange(N_REACH), mix.log_pi.argmax(-1)]
    mode_reach = float(robot_arm.reach_error(x, mode.double()).median())
    return {
        "nll": nll,
        "gap": nll - bayes,
        "mode_reach": mode_reach,
        "mode_ratio": mode_reach / mean_reach,
        "seconds": round(seconds, 2),
    }


TABLES: dict[str, tuple[Callable[[int], dict], list[tuple[str, str]]]] = {
    # name: (one seed's row, comparisons (a, b) reported as paired differences a − b)
    "ladder": (ladder, [("data units", "+ scaling"), ("+ scaling", "+ cosine"), ("+ cosine", "+ jitter")]),
    "ensemble": (ensemble, [("members' mean", "ensemble"), ("best member", "ensemble")]),
    "gan_mdn": (gan_mdn, [("MDN energy", "SLOGAN energy"), ("SLOGAN share", "MDN share")]),
    "k_sweep": (
        k_sweep,
        [
            ("K = 1 NLL", "K = 3 NLL"),
            ("K = 3 NLL", "K = 15 NLL"),
            ("K = 15 NLL", "K = 50 NLL"),
            ("K = 15 CRPS", "K = 3 CRPS"),
            ("K = 15, std_bias = 1 NLL", "K = 15 NLL"),
            ("K = 15 CRPS", "K = 15, std_bias = 1 CRPS"),
        ],
    ),
    "penguins": (penguins, [("linear-Gaussian", "MDN"), ("Gaussian", "linear-Gaussian")]),
    "arm": (arm, []),
}


def _stats(values: list[float]) -> dict:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return {"mean": statistics.mean(values), "sd": sd, "min": min(values), "max": max(values), "n": len(values)}


def summarise(runs: dict) -> dict:
    """Pool every stored row of each table over capabilities and seeds."""
    summary = {}
    for table, (_, comparisons) in TABLES.items():
        rows = [row for run in runs.values() for row in run.get(table, {}).get("rows", [])]
        if not rows:
            continue
        metrics = {k: _stats([r[k] for r in rows]) for k in rows[0] if k != "seed"}
        diffs = {}
        for a, b in comparisons:
            d = [r[a] - r[b] for r in rows]
            s = _stats(d)
            s["se"] = s["sd"] / math.sqrt(len(d)) if len(d) > 1 else float("nan")
            diffs[f"{a} − {b}"] = s
        caps = sorted(cap for cap, run in runs.items() if table in run)
        summary[table] = {"capabilities": caps, "n_runs": len(rows), "metrics": metrics, "differences": diffs}
    return summary


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", default=",".join(TABLES), help="comma-separated: " + ", ".join(TABLES))
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    names = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        ap.error(f"--tables: unknown {unknown}; choose from {list(TABLES)}")
    torch.set_num_threads(1)
    cap = torch.backends.cpu.get_cpu_capability()
    record = json.loads(OUT.read_text()) if OUT.exists() else {"runs": {}}
    run = record["runs"].setdefault(cap, {})
    for name in names:
        fn, _ = TABLES[name]
        rows, t0 = [], time.perf_counter()
        for seed in range(args.seeds):
            rows.append({"seed": seed, **fn(seed)})
            print(f"[{cap}] {name} seed {seed}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
        run[name] = {
            "rows": rows,
            "seconds": round(time.perf_counter() - t0, 1),
            "torch": torch.__version__,
            "date": datetime.date.today().isoformat(),
        }
        record["summary"] = summarise(record["runs"])
        OUT.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")  # after each table: nothing lost
    return record


if __name__ == "__main__":
    main()
