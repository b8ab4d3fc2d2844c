"""Benchmarks: the seed's recipes against ours, timed in one process (issue #5).

    .venv/bin/python benchmarks/run.py            # full run, ~10 min on 2 CPU cores
    .venv/bin/python benchmarks/run.py --quick    # < 2 min: fewer seed epochs, shorter GAN runs
    .venv/bin/python benchmarks/run.py --json     # also one flat JSON object on the last line
    .venv/bin/python benchmarks/run.py --device cuda

Held-out NLL is always scored on the same 100,000 points,
make_splits(1000, 10, 100_000, seed=0).test, which no training run sees; the
training set is make_splits(...).train (1000 points) or fresh draws.

Threads: our MDN trainers run on one CPU thread by default. The seed's recipe
and SLOGAN are run under `torch_threads(1)` too, so that the comparison is of
recipes, not of thread settings (the seed's recipe is several times slower with
torch's default threads on a busy 2-core machine). One run of our default MDN
recipe with torch's default threads is recorded for reference.

SLOGAN is scored by the energy distance between 10,000 generated points and
10,000 fresh true points (slogan_energy_distance(generator, 10_000, ENERGY_SEED)); its
seconds leave out the scoring fit_slogan does along the way
(history.eval_seconds). Both models train on `mdn_helpers.loop.train_loop`;
`loop_overhead_us` is what the loop adds per step, measured against a bare
loop of the same steps in the same process.
The Palmer penguins (benchmarks/penguins.py): bill length -> bill depth, five
seeded splits of 250 training birds and 92 held out; mean held-out NLL of the
default `fit_mdn` against the linear-Gaussian regression and a single Gaussian.
Every "seconds" is wall-clock on a machine shared with other work: the load
average is printed with the results, and timings move with it.
Progress goes to stderr; the table (and the JSON) to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from penguins import penguin_results
from seed_recipe import train_seed_mdn

from mdn_helpers.datasets.inverted_sine import bayes_nll, make_splits
from mdn_helpers.explorer import explorer_grid, explorer_spec
from mdn_helpers.metrics import energy_noise_floor, heldout_nll, mdn_energy_distance, slogan_energy_distance
from mdn_helpers.seeding import derive_seed, torch_threads
from mdn_helpers.slogan_train import fit_slogan
from mdn_helpers.train import fit_mdn, fit_mdn_ensemble

ENSEMBLE = dict(n_members=5)  # and the default recipe's 3000 steps
THREADS = 1  # for the seed's recipe and SLOGAN (our MDN trainers default to 1)
ENERGY_SEED = derive_seed(0, "benchmark/energy")  # slogan_energy_distance(generator, n, ENERGY_SEED) scores SLOGAN


@dataclass(frozen=True)
class Sizes:
    n_test: int = 100_000
    seed_epochs: int = 2000  # the seed's MDN recipe
    seed_eval_every: int = 10  # epochs
    our_eval_every: int = 10  # steps, while timing ours to the seed's best
    mdn_steps: int | None = None  # None: fit_mdn's default
    fresh_steps: int | None = None
    ensemble_steps: int | None = None
    ensemble_members: int | None = None
    threads_steps: int = 3000  # the torch-default-threads run of our recipe
    overhead_steps: int = 2000  # each of the bare and the train_loop runs, three times
    slogan_steps: int | None = None  # None: the recipe's default
    slogan_seed_steps: int = 1500  # of the seed's 30,000
    n_energy: int = 10_000
    noise_repeats: int = 5
    redraws: int = 21
    penguin_steps: int | None = None  # None: fit_mdn's default


SIZES = {
    "full": Sizes(),
    "quick": Sizes(
        seed_epochs=300,
        slogan_steps=1000,
        slogan_seed_steps=100,
        noise_repeats=3,
        threads_steps=300,
        ensemble_steps=1500,
        overhead_steps=1000,
    ),
    # plumbing only (tests): every figure is computed, none is meaningful
    "smoke": Sizes(
        n_test=2000,
        seed_epochs=2,
        seed_eval_every=1,
        our_eval_every=5,
        mdn_steps=20,
        fresh_steps=20,
        ensemble_steps=10,
        threads_steps=10,
        overhead_steps=10,
        slogan_steps=3,
        slogan_seed_steps=2,
        n_energy=300,
        noise_repeats=2,
        redraws=3,
        penguin_steps=20,
    ),
}

GOALS = dict(
    mdn_nll=1.37,
    mdn_seconds=10.0,
    best_nll=1.35,
    speedup=20.0,
    fresh_nll=1.31,
    fresh_seconds=10.0,
    slogan_energy=0.004,
    slogan_seconds=60.0,
    penguins_nll=1.85,
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


class _Reached(Exception):
    pass


def seconds_to_target(fit, test, target: float, eval_every: int) -> tuple[float, int | None, float]:
    """Run `fit(callback=..., eval_every=...)`, scoring held-out NLL every `eval_every`
    steps, until it is ≤ target. Returns (training seconds, step, NLL) at that point,
    scoring time excluded; (seconds of the whole run, None, last NLL) if never reached."""
    scoring, last = 0.0, [math.inf]
    hit: list = []
    t0 = time.perf_counter()

    def callback(step, hist, model):
        nonlocal scoring
        t = time.perf_counter()
        nll = heldout_nll(model, *test)
        last[0] = nll
        if nll <= target:
            hit[:] = [t - t0 - scoring, step, nll]
            raise _Reached
        scoring += time.perf_counter() - t

    try:
        fit(callback=callback, eval_every=eval_every)
    except _Reached:
        return tuple(hit)
    return time.perf_counter() - t0 - scoring, None, last[0]


def loop_overhead_us(x, y, steps: int, device: str) -> tuple[float, float]:
    """Microseconds per step that train_loop adds to the default MDN step (its
    snapshot, finiteness check, history, bar and timing), against a bare loop of
    the same step function that reads the loss once a step; and the bare step."""
    import dataclasses

    from mdn_helpers.loop import History, train_loop
    from mdn_helpers.mdn import MDN
    from mdn_helpers.seeding import seeded_init
    from mdn_helpers.train import DEFAULT_RECIPE, _mdn_step, _standardisation

    rec = dataclasses.replace(DEFAULT_RECIPE, steps=steps)
    x, y = x.to(device), y.to(device)
    times = {}
    with torch_threads(THREADS):
        for kind in ("bare", "loop") * 3:  # three times each, interleaved; the best of three
            with seeded_init(0):
                scaling = _standardisation(x, y)
                model = MDN(1, **rec.network(), **scaling).to(device)
            step = _mdn_step(model, model, rec, x, y, torch.device(device), 0, scaling["x_scale"], scaling["y_scale"])
            t0 = time.perf_counter()
            if kind == "bare":
                for i in range(steps):
                    step(i)["loss"].detach().item()
            else:
                train_loop(step, model, History(), steps=steps, eval_every=rec.eval_every, progress=False)
            times[kind] = min(times.get(kind, math.inf), time.perf_counter() - t0)
    return 1e6 * (times["loop"] - times["bare"]) / steps, 1e6 * times["bare"] / steps


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def only(**kw):
    """The keyword arguments that are not None."""
    return {k: v for k, v in kw.items() if v is not None}


def run(sz: Sizes, device: str = "cpu") -> dict:
    r: dict = dict(
        device=device,
        torch_version=torch.__version__,
        cpu_threads=torch.get_num_threads(),
        cpu_count=os.cpu_count(),
        load_avg_start=round(os.getloadavg()[0], 2),
    )
    splits = make_splits(1000, 10, sz.n_test, seed=0)
    x, y = splits.train.tensors()
    test = tuple(t.to(device) for t in splits.test.tensors())
    r["bayes_nll"] = bayes_nll()
    # One-off costs outside every timing: torch imports torch._dynamo at the first
    # optimiser step of a process (~2 s here), which the first recipe timed would pay.
    fit_mdn(x, y, steps=2, device=device, progress=False)

    # -- the seed's MDN recipe ------------------------------------------------------------
    log(f"seed MDN recipe, {sz.seed_epochs} epochs")
    with torch.random.fork_rng(devices=[]), torch_threads(THREADS):
        _, seed_run = train_seed_mdn(
            splits.train, test, epochs=sz.seed_epochs, eval_every=sz.seed_eval_every, device=device
        )
    best_nll, best_s, best_epoch = seed_run.best
    r.update(
        mdn_seed_epochs=sz.seed_epochs,
        mdn_seed_best_nll=best_nll,
        mdn_seed_seconds_to_best=best_s,
        mdn_seed_best_epoch=best_epoch,
        mdn_seed_final_nll=seed_run.eval_nll[-1],
        mdn_seed_seconds=seed_run.seconds,
    )

    # -- ours, 1000 points ----------------------------------------------------------------
    mdn_kw = dict(device=device, progress=False, **only(steps=sz.mdn_steps))
    log("our default MDN recipe, 1000 points")
    (model, _), secs = timed(fit_mdn, x, y, **mdn_kw)
    r.update(mdn_nll_n1000=heldout_nll(model, *test), mdn_seconds_n1000=secs)
    r["mdn_energy_n1000"] = mdn_energy_distance(model, n=sz.n_energy)

    log(f"our default MDN recipe, timed to the seed's best ({best_nll:.4f})")
    s, step, _nll = seconds_to_target(lambda **kw: fit_mdn(x, y, **mdn_kw, **kw), test, best_nll, sz.our_eval_every)
    r.update(
        mdn_seconds_to_seed_best=s,
        mdn_step_to_seed_best=step if step is not None else -1,
        mdn_reached_seed_best=step is not None,
        mdn_speedup_to_seed_best=best_s / s if step is not None else 0.0,
    )

    log(f"threads: our recipe, {sz.threads_steps} steps, 1 thread then torch's default")
    thr_kw = dict(mdn_kw, steps=sz.threads_steps)
    _, r["threads_seconds_1"] = timed(fit_mdn, x, y, **thr_kw)
    _, r["threads_seconds_torch_default"] = timed(fit_mdn, x, y, **thr_kw, num_threads=None)
    r["threads_steps"] = sz.threads_steps
    log(f"the loop's cost per step, {sz.overhead_steps} steps")
    r["loop_overhead_us"], r["mdn_step_us"] = loop_overhead_us(x, y, sz.overhead_steps, device)

    # -- ours, fresh draws; the ensemble ------------------------------------------------------
    log("fresh draws: recipe 'fresh'")
    (model_f, hist_f), secs = timed(
        fit_mdn, recipe="fresh", device=device, progress=False, **only(steps=sz.fresh_steps)
    )
    r.update(
        mdn_nll_fresh=heldout_nll(model_f, *test),
        mdn_seconds_fresh=secs,
        mdn_fresh_batch_size=hist_f.recipe["batch_size"],
        mdn_fresh_steps=hist_f.recipe["steps"],
    )

    ens_kw = dict(ENSEMBLE, **only(steps=sz.ensemble_steps, n_members=sz.ensemble_members))
    log(f"ensemble {ens_kw}")
    (ens, _), secs = timed(fit_mdn_ensemble, x, y, device=device, progress=False, **ens_kw)
    r.update(mdn_nll_best=heldout_nll(ens, *test), mdn_seconds_best=secs, mdn_best_members=ens_kw["n_members"])

    # -- SLOGAN ---------------------------------------------------------------------------
    def slogan(recipe, steps):
        with torch_threads(THREADS):
            (gen, _, hist), secs = timed(fit_slogan, recipe=recipe, device=device, progress=False, **only(steps=steps))
            energy = slogan_energy_distance(gen, sz.n_energy, seed=ENERGY_SEED)
        return energy, secs - hist.eval_seconds, hist.steps, hist.recipe["batch_size"]

    log(f"SLOGAN, default recipe, steps={sz.slogan_steps or 'default'}")
    r["slogan_energy"], r["slogan_seconds"], r["slogan_steps"], r["slogan_batch_size"] = slogan(
        "default", sz.slogan_steps
    )
    log(f"SLOGAN, seed recipe, first {sz.slogan_seed_steps} steps")
    r["slogan_seed_energy"], r["slogan_seed_seconds"], r["slogan_seed_steps"], _ = slogan("seed", sz.slogan_seed_steps)
    with torch_threads(THREADS):
        r["slogan_noise_mean"], r["slogan_noise"] = energy_noise_floor(
            sz.n_energy, repeats=sz.noise_repeats, seed=ENERGY_SEED
        )
    r["energy_n"] = sz.n_energy

    # -- the Palmer penguins (benchmarks/penguins.py) ---------------------------------------
    log("Palmer penguins: bill length -> bill depth, 5 splits of 250 train")
    pg = penguin_results(log=log, **only(steps=sz.penguin_steps))
    r.update(
        penguins_nll_mdn=pg["mean"]["mdn"],
        penguins_nll_linear=pg["mean"]["linear"],
        penguins_nll_gaussian=pg["mean"]["gaussian"],
        penguins_seconds=pg["mean"]["seconds"],
        penguins_mdn_beats_linear_every_split=pg["mdn_beats_linear_every_split"],
        penguins_n_birds=pg["n_birds"],
    )
    for i, row in enumerate(pg["splits"]):
        r[f"penguins_nll_mdn_split{i}"], r[f"penguins_nll_linear_split{i}"] = row["mdn"], row["linear"]

    # -- the bias explorer --------------------------------------------------------------------
    # A slider step is drawn in the browser (timed by tests/test_browser.py, see RESULTS.md); the
    # kernel's share is one-off: the model's mixture on the grid, checked and packed for the page.
    log("bias explorer grid")

    def explorer_setup():
        return explorer_spec(explorer_grid(model), data=(x, y))

    explorer_setup()  # warm-up
    r["explorer_setup_ms"] = 1000 * statistics.median(timed(explorer_setup)[1] for _ in range(sz.redraws))

    r["load_avg_end"] = round(os.getloadavg()[0], 2)
    return r


def table(r: dict, mode: str) -> str:
    g = GOALS

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    rows = [
        ("figure", "seed's recipe", "ours", "goal", "met?"),
        ("Bayes NLL (the floor)", "", f"{r['bayes_nll']:.4f}", "", ""),
        (
            "held-out NLL, 1000 pts, one model",
            f"{r['mdn_seed_best_nll']:.4f} best ({r['mdn_seed_seconds_to_best']:.0f} s)",
            f"{r['mdn_nll_n1000']:.4f} ({r['mdn_seconds_n1000']:.1f} s)",
            f"<= {g['mdn_nll']} in <= {g['mdn_seconds']:.0f} s",
            met(r["mdn_nll_n1000"] <= g["mdn_nll"] and r["mdn_seconds_n1000"] <= g["mdn_seconds"]),
        ),
        (
            "seconds to the seed's best NLL",
            f"{r['mdn_seed_seconds_to_best']:.1f} s (epoch {r['mdn_seed_best_epoch']})",
            f"{r['mdn_seconds_to_seed_best']:.2f} s (step {r['mdn_step_to_seed_best']}): "
            f"{r['mdn_speedup_to_seed_best']:.0f}x",
            f">= {g['speedup']:.0f}x",
            met(r["mdn_speedup_to_seed_best"] >= g["speedup"]),
        ),
        (
            "held-out NLL, fresh draws",
            "",
            f"{r['mdn_nll_fresh']:.4f} ({r['mdn_seconds_fresh']:.1f} s)",
            f"<= {g['fresh_nll']} in <= {g['fresh_seconds']:.0f} s",
            met(r["mdn_nll_fresh"] <= g["fresh_nll"] and r["mdn_seconds_fresh"] <= g["fresh_seconds"]),
        ),
        (
            f"held-out NLL, best (ensemble x{r['mdn_best_members']})",
            "",
            f"{r['mdn_nll_best']:.4f} ({r['mdn_seconds_best']:.1f} s)",
            f"<= {g['best_nll']}",
            met(r["mdn_nll_best"] <= g["best_nll"]),
        ),
        (
            f"SLOGAN energy distance ({r['energy_n']} vs {r['energy_n']} pts)",
            f"{r['slogan_seed_energy']:.4f} ({r['slogan_seed_steps']} of 30000 steps, "
            f"{r['slogan_seed_seconds']:.0f} s)",
            f"{r['slogan_energy']:.4f} ({r['slogan_steps']} steps x {r['slogan_batch_size']}, "
            f"{r['slogan_seconds']:.1f} s)",
            f"<= {g['slogan_energy']} in <= {g['slogan_seconds']:.0f} s",
            met(r["slogan_energy"] <= g["slogan_energy"] and r["slogan_seconds"] <= g["slogan_seconds"]),
        ),
        (
            "  energy noise (sd, true vs true)",
            "",
            f"{r['slogan_noise']:.4f} (mean {r['slogan_noise_mean']:+.5f})",
            "",
            "",
        ),
        (
            "bias explorer: grid + page data (once; steps run in the browser)",
            "",
            f"{r['explorer_setup_ms']:.0f} ms",
            "",
            "",
        ),
        (
            f"our MDN, {r['threads_steps']} steps: 1 thread / torch default ({r['cpu_threads']})",
            "",
            f"{r['threads_seconds_1']:.1f} s / {r['threads_seconds_torch_default']:.1f} s",
            "",
            "",
        ),
        (
            "train_loop's cost per MDN step (bare step)",
            "",
            f"{r['loop_overhead_us']:.0f} us ({r['mdn_step_us']:.0f} us)",
            "",
            "",
        ),
        (
            f"penguins, bill length -> depth, mean of 5 splits ({r['penguins_n_birds']} birds, 250 train)",
            "",
            f"MDN {r['penguins_nll_mdn']:.3f} ({r['penguins_seconds']:.1f} s a fit), linear-Gaussian "
            f"{r['penguins_nll_linear']:.3f}, Gaussian {r['penguins_nll_gaussian']:.3f}",
            f"<= {g['penguins_nll']}, beats linear on every split",
            met(r["penguins_nll_mdn"] <= g["penguins_nll"] and r["penguins_mdn_beats_linear_every_split"]),
        ),
        ("notebooks: 01-03 under nbval (RESULTS.md)", "", "see RESULTS.md", "<= 150 s", ""),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    head = (
        f"mode: {mode}"
        + (
            f" (seed recipe {r['mdn_seed_epochs']} epochs, not 2000; shorter ensemble and SLOGAN runs)"
            if mode != "full"
            else ""
        )
        + f"; device {r['device']}, torch {r['torch_version']}, {r['cpu_count']} CPUs, "
        f"load avg {r['load_avg_start']} -> {r['load_avg_end']}"
    )
    return head + "\n" + "\n".join(lines)


#: The figures the notebooks quote, read from benchmarks/recorded.json (written by --record).
RECORDED = (
    "mode",
    "device",
    "torch_version",
    "cpu_count",
    "bayes_nll",
    "mdn_seed_epochs",
    "mdn_seed_best_nll",
    "mdn_seed_best_epoch",
    "mdn_seed_final_nll",
    "mdn_seed_seconds_to_best",
    "mdn_nll_n1000",
    "mdn_seconds_n1000",
    "mdn_nll_best",
    "mdn_best_members",
    "mdn_seconds_best",
)


def record(r: dict, path: str) -> dict:
    """Write the RECORDED figures of a run `r` (and the date) to `path` as JSON; returns what was written."""
    out = {"date": time.strftime("%Y-%m-%d"), "source": "benchmarks/run.py --record"}
    out.update({k: r[k] for k in RECORDED})
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="under 2 minutes: 300 seed epochs, shorter GAN runs")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, seconds: checks the plumbing, not the figures")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--json", action="store_true", help="print one flat JSON object on the last line")
    p.add_argument(
        "--record",
        metavar="PATH",
        help="also write the figures the notebooks quote (RECORDED) as JSON to PATH, e.g. benchmarks/recorded.json",
    )
    args = p.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    t0 = time.perf_counter()
    r = run(SIZES[mode], args.device)
    r["mode"], r["total_seconds"] = mode, time.perf_counter() - t0
    print(table(r, mode), flush=True)
    if args.record:
        record(r, args.record)
    if args.json:
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
