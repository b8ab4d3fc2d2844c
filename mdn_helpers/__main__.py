"""Headless runs: ``python -m mdn_helpers mdn|slogan|explorer [--out DIR] [--seed N] [--steps N] ...``.

`mdn` and `slogan` train with the default recipe (progress bar on stderr),
then write a checkpoint and PNG figures to the output folder and print what
they wrote. `explorer` trains the default MDN (or loads `--checkpoint PATH`)
and writes the stand-alone bias explorer, DIR/bias_explorer.html: one page,
script and data inline, that needs no kernel and makes no network request.

Every argument, and the output folder (created, and test-written), is checked
before any training starts; a bad one ends the run with one line on stderr,
``error: ...``, and exit status 2 (no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .recipes import MAX_STEPS  # the recipes' limit on steps holds here too

#: Bounds of the command line's sizes: beyond them a run would not fit in
#: memory or would take days.
MAX_N_TRAIN = 10_000_000
MAX_N_TEST = 10_000_000

if TYPE_CHECKING:  # for annotations only: the functions below import matplotlib and torch where used
    from matplotlib.figure import Figure
    from torch import Tensor


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def run_mdn(args: argparse.Namespace) -> dict:
    import torch

    from . import plots
    from .checkpoint import save_checkpoint
    from .datasets.inverted_sine import bayes_nll, make_splits
    from .metrics import heldout_nll
    from .seeding import derive_seed
    from .train import fit_mdn

    out = Path(args.out)
    splits = make_splits(args.n_train, 1000, args.n_test, seed=args.seed)
    x, y = splits.train.tensors()
    model, hist = fit_mdn(x, y, seed=args.seed, device=args.device, steps=args.steps, progress=not args.no_progress)
    nll = heldout_nll(model, *splits.test.tensors())
    bayes = bayes_nll()
    ckpt = save_checkpoint(model, out / "mdn.pt", extra={"heldout_nll": nll, "seed": args.seed})
    xs = torch.rand(2000, generator=torch.Generator().manual_seed(derive_seed(args.seed, "cli/x"))) * 30 - 15
    dev = next(model.parameters()).device

    def draw(std_bias: float, tag: str) -> Tensor:
        g = torch.Generator(device=dev).manual_seed(derive_seed(args.seed, tag))
        return model.mixture(xs.to(dev), std_bias=std_bias).sample(generator=g).cpu()

    ys, ys_b = draw(0.0, "cli/samples"), draw(10.0, "cli/biased")
    files = [
        _save(
            plots.plot_samples(x, y, xs, ys, x_biased=xs, y_biased=ys_b, biased_label="std_bias = 10"),
            out / "mdn_samples.png",
        ),
        _save(plots.plot_loss(hist, bayes=bayes), out / "mdn_loss.png"),
        _save(plots.plot_density_comparison(model), out / "mdn_density.png"),
    ]
    return {
        "checkpoint": str(ckpt),
        "figures": [str(f) for f in files],
        "heldout_nll": round(nll, 4),
        "bayes_nll": round(bayes, 4),
        "train_seconds": round(hist.seconds, 2),
        "n_test": args.n_test,
    }


def run_slogan(args: argparse.Namespace) -> dict:
    import torch

    from . import plots
    from .checkpoint import save_checkpoint
    from .datasets.inverted_sine import joint_sample
    from .metrics import energy_noise_floor, slogan_energy_distance
    from .seeding import derive_seed
    from .slogan_train import fit_slogan

    out = Path(args.out)
    overrides = {} if args.steps is None else {"steps": args.steps}
    gen, critic, hist = fit_slogan(seed=args.seed, device=args.device, progress=not args.no_progress, **overrides)
    energy = slogan_energy_distance(gen, args.n_eval, seed=args.seed)
    floor_mean, floor_sd = energy_noise_floor(args.n_eval, seed=args.seed)
    extra = {"energy_distance": energy, "seed": args.seed, "steps": hist.steps}
    ckpts = [
        save_checkpoint(gen, out / "slogan_generator.pt", extra=extra),
        save_checkpoint(critic, out / "slogan_critic.pt", extra=extra),
    ]
    data = joint_sample(3000, derive_seed(args.seed, "cli/data"))
    dev = next(gen.parameters()).device
    with torch.no_grad():
        fake = gen.sample(3000, generator=torch.Generator(device=dev).manual_seed(derive_seed(args.seed, "cli/fake")))
    fake = fake.cpu()
    files = [
        _save(plots.plot_gan_densities(fake, data[:, 0], data[:, 1]), out / "slogan_densities.png"),
        _save(plots.plot_critic(critic, data[:, 0], data[:, 1], fake=fake), out / "slogan_critic.png"),
    ]
    return {
        "checkpoints": [str(c) for c in ckpts],
        "figures": [str(f) for f in files],
        "energy_distance": round(energy, 5),
        "noise_floor_mean": round(floor_mean, 5),
        "noise_floor_sd": round(floor_sd, 5),
        "n_eval": args.n_eval,
        "steps": hist.steps,
        "train_seconds": round(hist.seconds, 2),
        "data": hist.data,
    }


def run_explorer(args: argparse.Namespace) -> dict:
    import time

    from .checkpoint import load_checkpoint
    from .datasets.inverted_sine import make_splits
    from .explorer import explorer_grid, write_explorer_page
    from .train import fit_mdn

    t0 = time.perf_counter()
    x, y = make_splits(args.n_train, 1, 1, seed=args.seed).train.tensors()
    if args.checkpoint is not None:
        model = load_checkpoint(args.checkpoint, device=args.device)
        source = str(args.checkpoint)
    else:
        model, _ = fit_mdn(x, y, seed=args.seed, device=args.device, steps=args.steps, progress=not args.no_progress)
        source = f"trained: default recipe, seed {args.seed}, {args.steps} steps, {args.n_train} points"
    page = write_explorer_page(args.out, explorer_grid(model), data=(x, y), n=args.n, seed=args.seed)
    return {
        "page": str(page),
        "bytes": page.stat().st_size,
        "model": source,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _prepare_out(out: str) -> Path:
    """Create the output folder and write (then remove) a file in it; a
    ValueError saying why not (a file in the way, no permission, ...)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out!r} is an existing file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out!r}: cannot create the folder ({exc.strerror or exc})") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"--out {out!r}: cannot write in the folder ({exc.strerror or exc})") from None
    return path


def check_args(args: argparse.Namespace) -> None:
    """Every argument of `args`, before anything is trained; ValueError/TypeError naming the option."""
    from ._checks import check_nonneg_int, check_positive_int, resolve_device

    check_nonneg_int("--seed", args.seed)
    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise ValueError(f"--device: {exc}") from None
    if args.steps is not None:
        check_positive_int("--steps", args.steps, minimum=0, maximum=MAX_STEPS)
    if args.command == "mdn":
        check_positive_int("--n-train", args.n_train, minimum=2, maximum=MAX_N_TRAIN)
        check_positive_int("--n-test", args.n_test, maximum=MAX_N_TEST)
    elif args.command == "explorer":
        from .explorer import MAX_POINTS

        check_positive_int("--n-train", args.n_train, minimum=2, maximum=MAX_POINTS)
        check_positive_int("--n", args.n, maximum=MAX_POINTS)
        if args.checkpoint is not None and not Path(args.checkpoint).is_file():
            raise ValueError(f"--checkpoint {args.checkpoint!r}: no such file")
    else:
        from .metrics import MAX_ENERGY_POINTS

        check_positive_int("--n-eval", args.n_eval, minimum=2, maximum=MAX_ENERGY_POINTS)
    _prepare_out(args.out)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: ``error: ...`` (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m mdn_helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p_mdn = sub.add_parser("mdn", help="train the MDN with the default recipe; write checkpoint and figures")
    p_mdn.add_argument("--steps", type=int, default=3000)
    p_mdn.add_argument("--n-train", type=int, default=1000)
    p_mdn.add_argument("--n-test", type=int, default=100_000)
    p_mdn.set_defaults(func=run_mdn)
    p_gan = sub.add_parser("slogan", help="train the SLOGAN with the default recipe; write checkpoints and figures")
    p_gan.add_argument("--steps", type=int, default=None, help="generator steps (default: the recipe's, 8000)")
    p_gan.add_argument("--n-eval", type=int, default=10_000, help="points per side for the energy distance")
    p_gan.set_defaults(func=run_slogan)
    p_exp = sub.add_parser("explorer", help="write the stand-alone bias explorer page, DIR/bias_explorer.html")
    p_exp.add_argument("--checkpoint", default=None, help="an MDN checkpoint to load (default: train one)")
    p_exp.add_argument("--steps", type=int, default=3000, help="training steps when no --checkpoint is given")
    p_exp.add_argument("--n-train", type=int, default=1000, help="training points (also drawn on the page)")
    p_exp.add_argument("--n", type=int, default=2000, help="samples the page draws")
    p_exp.set_defaults(func=run_explorer)
    for p in (p_mdn, p_gan, p_exp):
        p.add_argument("--out", default="out", help="output folder (default: out/)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="cpu", help="cpu or cuda")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except (ValueError, TypeError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    from .loop import TrainingDiverged

    try:
        result = args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"error: training diverged: {_one_line(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the disk filled up while writing
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
