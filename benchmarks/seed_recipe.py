"""The original notebook's MDN recipe, ported to current PyTorch: the baseline.

Kept as the seed wrote it (shared/seed/gaussian-mixture-density-networks-1d.txt,
cells 2-4), with only what PyTorch 0.3 → 2.x needs changed: no `Variable`,
`softmax(..., dim=1)`, `loss.item()` for `loss.data[0]`, `.to(device)` for `.cuda()`.

  * data: 1000 points, a DataLoader with batch_size 32 and no shuffling;
  * model: Linear(1, 32), tanh, GaussianMixture1d(32, 20) (softmax weights,
    exp scales, a hand-written log-sum-exp);
  * Adam(lr=1e-3), 2000 epochs.

Only the held-out scoring is added: every `eval_every` epochs the model is
scored on a fixed test set, and that time is left out of the training clock.

The seed did its SLOGAN in the same notebook; that schedule is
`mdn_helpers.slogan.fit_slogan(recipe="seed")`, so it is not repeated here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy
import torch
import torch.utils.data


class GaussianMixture1d(torch.nn.Module):
    """The seed's mixture head, unchanged but for `softmax(dim=1)`."""

    def __init__(self, n_in, n_mixtures, eps=0):
        super().__init__()
        self.n_in = n_in
        self.eps = eps
        self.n_mixtures = n_mixtures
        self.lin = torch.nn.Linear(n_in, 3 * n_mixtures)
        self.log_2pi = numpy.log(2 * numpy.pi)

    def params(self, inp, pi_bias=0, std_bias=0):
        p = self.lin(inp)
        pi = torch.nn.functional.softmax(p[:, : self.n_mixtures] * (1 + pi_bias), dim=1)
        mu = p[:, self.n_mixtures : 2 * self.n_mixtures]
        sigma = (p[:, 2 * self.n_mixtures :] - std_bias).exp()
        sigma = sigma + self.eps
        return pi, mu, sigma

    def forward(self, inp, x):
        pi, mu, sigma = self.params(inp)
        log_normal_likelihoods = -0.5 * ((x.unsqueeze(1) - mu) / sigma) ** 2 - 0.5 * self.log_2pi - torch.log(sigma)
        log_weighted_normal_likelihoods = log_normal_likelihoods + pi.log()
        maxes, _ = log_weighted_normal_likelihoods.max(1)
        mixture_log_likelihood = (log_weighted_normal_likelihoods - maxes.unsqueeze(1)).exp().sum(1).log() + maxes
        return -mixture_log_likelihood


class Model(torch.nn.Module):
    """The seed's model: one tanh layer, then the mixture head; forward is the mean NLL."""

    def __init__(self, n_inp=1, n_hid=24, n_mixtures=24):
        super().__init__()
        self.lin = torch.nn.Linear(n_inp, n_hid)
        self.mix = GaussianMixture1d(n_hid, n_mixtures)

    def forward(self, inp, x):
        h = torch.tanh(self.lin(inp))
        return self.mix(h, x).mean()


@dataclass
class SeedRun:
    """What `train_seed_mdn` measured. Seconds are training time only (no scoring)."""

    epochs: int
    eval_epoch: list[int] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)  # training seconds at each evaluation
    eval_nll: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # per epoch, as the seed's `losses`
    seconds: float = 0.0

    @property
    def best(self) -> tuple[float, float, int]:
        """(best held-out NLL, training seconds until it, its epoch)."""
        i = min(range(len(self.eval_nll)), key=lambda j: self.eval_nll[j])
        return self.eval_nll[i], self.eval_seconds[i], self.eval_epoch[i]


@torch.no_grad()
def seed_nll(model: Model, x: torch.Tensor, y: torch.Tensor, chunk: int = 50_000) -> float:
    """Mean NLL of the seed's model on (x, y), both (n,)."""
    total = 0.0
    for s in range(0, x.shape[0], chunk):
        total += float(model(x[s : s + chunk].unsqueeze(1), y[s : s + chunk])) * x[s : s + chunk].shape[0]
    return total / x.shape[0]


def train_seed_mdn(
    train_ds,
    test: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int = 2000,
    eval_every: int = 10,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[Model, SeedRun]:
    """Run the seed's recipe on `train_ds` (a map-style Dataset of (x_i, y_i)),
    scoring the held-out NLL on `test` = (x, y) every `eval_every` epochs and
    after the last. Uses torch's current thread setting; seeds the global RNG.
    device="cuda" moves model and batches there, as the seed's `.cuda()` calls did."""
    torch.manual_seed(seed)
    train_dl = torch.utils.data.DataLoader(train_ds, batch_size=32)
    run = SeedRun(epochs)
    t_start = time.perf_counter()
    m = Model(1, 32, 20).to(device)
    opt = torch.optim.Adam(m.parameters(), 0.001)
    scoring = 0.0
    for epoch in range(epochs):
        thisloss = 0.0
        for x, y in train_dl:
            x = x.float().unsqueeze(1).to(device)
            y = y.float().to(device)
            opt.zero_grad()
            loss = m(x, y)
            loss.backward()
            thisloss += loss.item() / len(train_dl)
            opt.step()
        run.train_loss.append(thisloss)
        done = epoch + 1
        if done % eval_every == 0 or done == epochs:
            t0 = time.perf_counter()
            run.eval_seconds.append(t0 - t_start - scoring)
            nll = seed_nll(m, *test)
            run.eval_epoch.append(done)
            run.eval_nll.append(nll if math.isfinite(nll) else math.inf)
            scoring += time.perf_counter() - t0
    run.seconds = time.perf_counter() - t_start - scoring
    return m, run
