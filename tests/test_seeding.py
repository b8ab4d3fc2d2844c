"""Seeds and threads (mdn_helpers/seeding.py): derive_seed's streams, seeded_init,
and the thread count the trainers run with."""

import os

import pytest
import torch

from mdn_helpers.seeding import check_num_threads, derive_seed, seeded_init, torch_threads


def test_derive_seed_is_stable_distinct_and_checked():
    a = derive_seed(0, "init")
    assert a == derive_seed(0, "init") and 0 <= a < 2**63
    assert len({derive_seed(s, t) for s in range(20) for t in ("init", "noise", "data", "eval")}) == 80
    torch.Generator().manual_seed(a)  # a valid torch seed
    with pytest.raises(ValueError, match="seed"):
        derive_seed(-1, "init")
    with pytest.raises(TypeError, match="tag"):
        derive_seed(0, "")


def test_more_threads_than_cores_are_refused_before_touching_torch():
    before = torch.get_num_threads()
    for n in (os.cpu_count() + 1, 30_000):
        with (
            pytest.raises(ValueError, match=r"num_threads must be <= \d+, this machine's CPU count"),
            torch_threads(n),
        ):
            raise AssertionError("the block must not run")
        assert torch.get_num_threads() == before
    with pytest.raises(TypeError, match="num_threads"):
        check_num_threads(2.0)
    with torch_threads(os.cpu_count()):  # the CPU count itself is allowed, and restored after
        assert torch.get_num_threads() == os.cpu_count()
    assert torch.get_num_threads() == before


def test_seeded_init_fixes_the_weights_and_restores_the_rng():
    before = torch.random.get_rng_state()
    with seeded_init(5):
        a = torch.nn.Linear(3, 2).weight.detach().clone()
    assert torch.equal(torch.random.get_rng_state(), before)
    with seeded_init(5):
        b = torch.nn.Linear(3, 2).weight.detach().clone()
    assert torch.equal(a, b)
