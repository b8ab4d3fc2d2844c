"""Seeds and CPU threads: `derive_seed` (one random stream per tag),
`seeded_init` (seeded weight initialisation), and the intra-op thread count
every trainer runs with (`torch_threads`, checked by `check_num_threads`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator

import torch

from ._checks import check_nonneg_int, check_positive_int

__all__ = ["check_num_threads", "derive_seed", "max_threads", "seeded_init", "torch_threads"]


def derive_seed(seed: int, tag: str) -> int:
    """A seed for the random stream `tag` of a run seeded `seed`, in [0, 2**63).

    Every stream a run draws from (weights, noise, data order, scoring points)
    gets its own tag, so streams of different tags never overlap.
    """
    check_nonneg_int("seed", seed)
    if not isinstance(tag, str) or not tag:
        raise TypeError(f"tag must be a non-empty str, got {tag!r}")
    digest = hashlib.blake2b(f"{int(seed)}/{tag}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Seed the global CPU RNG for weight init inside the block, then restore it.

    Only the CPU generator is touched (models are built on the CPU, then
    moved): torch.manual_seed would also reseed every CUDA generator.
    """
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield


def max_threads() -> int:
    """The most intra-op threads a trainer may ask for: the machine's CPU count."""
    return os.cpu_count() or 1


def check_num_threads(n: int | None) -> int | None:
    """None, or an int in [1, os.cpu_count()]; ValueError/TypeError naming num_threads.

    More threads than cores buy nothing, and asking OpenMP for thousands can
    kill the process outright (libgomp aborts when it cannot create them).
    """
    if n is None:
        return None
    n = check_positive_int("num_threads", n)
    if n > max_threads():
        raise ValueError(f"num_threads must be <= {max_threads()}, this machine's CPU count (os.cpu_count()), got {n}")
    return n


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` intra-op CPU threads (None: leave as is), then restore.

    n must be in [1, os.cpu_count()] (see `check_num_threads`).

    These models are tiny (a 1000 × 32 matrix product is a few µs of work):
    extra threads add synchronisation and, when another process holds a core,
    spin-waiting that slowed training 50-fold in our measurements. One thread
    is the default of every trainer here.
    """
    threads = check_num_threads(n)
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
