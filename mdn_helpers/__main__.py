"""Headless runs: ``python -m mdn_helpers mdn|slogan [--out DIR] [--seed N] [--steps N] ...``.

Each trains with the default recipe (progress bar on stderr), then writes a
checkpoint and PNG figures to the output folder and prints what it wrote.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _save(fig, path: Path) -> Path:
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def run_mdn(args: argparse.Namespace) -> dict:
    import torch

    from . import plots
    from .checkpoint import save_checkpoint
    from .data import bayes_nll, make_splits
    from .loop import derive_seed
    from .metrics import heldout_nll
    from .train import fit_mdn

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = make_splits(args.n_train, 1000, args.n_test, seed=args.seed)
    x, y = splits.train.tensors()
    model, hist = fit_mdn(x, y, seed=args.seed, device=args.device, steps=args.steps,
                          progress=not args.no_progress)
    nll = heldout_nll(model, *splits.test.tensors())
    bayes = bayes_nll()
    ckpt = save_checkpoint(model, out / "mdn.pt", extra={"heldout_nll": nll, "seed": args.seed})
    xs = torch.rand(2000, generator=torch.Generator().manual_seed(derive_seed(args.seed, "cli/x"))) * 30 - 15
    dev = next(model.parameters()).device

    def draw(std_bias: float, tag: str):
        g = torch.Generator(device=dev).manual_seed(derive_seed(args.seed, tag))
        return model.sample(xs.to(dev), std_bias=std_bias, generator=g).cpu()
    ys, ys_b = draw(0.0, "cli/samples"), draw(10.0, "cli/biased")
    files = [
        _save(plots.plot_samples(x, y, xs, ys, x_biased=xs, y_biased=ys_b, biased_label="std_bias = 10"),
              out / "mdn_samples.png"),
        _save(plots.plot_loss(hist, bayes=bayes), out / "mdn_loss.png"),
        _save(plots.plot_density_comparison(model), out / "mdn_density.png"),
    ]
    return {"checkpoint": str(ckpt), "figures": [str(f) for f in files], "heldout_nll": round(nll, 4),
            "bayes_nll": round(bayes, 4), "train_seconds": round(hist.seconds, 2), "n_test": args.n_test}


def run_slogan(args: argparse.Namespace) -> dict:
    import torch

    from . import plots
    from .checkpoint import save_checkpoint
    from ._checks import check_positive_int
    from .loop import derive_seed
    from .metrics import energy_noise_floor, joint_sample, slogan_energy
    from .slogan_train import train_slogan

    check_positive_int("--n-eval", args.n_eval, minimum=2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = {} if args.steps is None else {"steps": args.steps}
    gen, critic, hist = train_slogan(seed=args.seed, device=args.device, progress=not args.no_progress, **overrides)
    energy = slogan_energy(gen, args.n_eval, seed=args.seed)
    floor_mean, floor_sd = energy_noise_floor(args.n_eval, seed=args.seed)
    extra = {"energy_distance": energy, "seed": args.seed, "steps": hist.steps}
    ckpts = [save_checkpoint(gen, out / "slogan_generator.pt", extra=extra),
             save_checkpoint(critic, out / "slogan_critic.pt", extra=extra)]
    data = joint_sample(3000, derive_seed(args.seed, "cli/data"))
    dev = next(gen.parameters()).device
    with torch.no_grad():
        fake = gen.sample(3000, generator=torch.Generator(device=dev).manual_seed(derive_seed(args.seed, "cli/fake")))
    fake = fake.cpu()
    files = [
        _save(plots.plot_gan_densities(fake, data[:, 0], data[:, 1]), out / "slogan_densities.png"),
        _save(plots.plot_critic(critic, data[:, 0], data[:, 1]), out / "slogan_critic.png"),
    ]
    return {"checkpoints": [str(c) for c in ckpts], "figures": [str(f) for f in files],
            "energy_distance": round(energy, 5), "noise_floor_mean": round(floor_mean, 5),
            "noise_floor_sd": round(floor_sd, 5), "n_eval": args.n_eval, "steps": hist.steps,
            "train_seconds": round(hist.seconds, 2), "data": hist.data}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mdn_helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_mdn = sub.add_parser("mdn", help="train the MDN with the default recipe; write checkpoint and figures")
    p_mdn.add_argument("--steps", type=int, default=3000)
    p_mdn.add_argument("--n-train", type=int, default=1000)
    p_mdn.add_argument("--n-test", type=int, default=100_000)
    p_mdn.set_defaults(func=run_mdn)
    p_gan = sub.add_parser("slogan", help="train the SLOGAN with the default recipe; write checkpoints and figures")
    p_gan.add_argument("--steps", type=int, default=None, help="generator steps (default: the recipe's, 8000)")
    p_gan.add_argument("--n-eval", type=int, default=10_000, help="points per side for the energy distance")
    p_gan.set_defaults(func=run_slogan)
    for p in (p_mdn, p_gan):
        p.add_argument("--out", default="out", help="output folder (default: out/)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="cpu", help="cpu or cuda")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
