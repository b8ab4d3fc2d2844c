"""Checkpoints round-trip, are written atomically and never unpickle code."""
import os
import pickle

import pytest
import torch

from mdn_helpers.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from mdn_helpers.mdn import MDN, MDNEnsemble


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return MDN(n_hidden=8, n_components=3, x_loc=0.5, x_scale=6.0, y_loc=-1.0, y_scale=5.5, **kw)


def test_round_trip_mdn(tmp_path):
    m = _model(eps=0.01)
    path = save_checkpoint(m, tmp_path / "sub" / "m.pt", extra={"note": "hi", "nll": 1.3})
    back = load_checkpoint(path)
    assert isinstance(back, MDN) and back.config == m.config
    x, y = torch.randn(20), torch.randn(20)
    torch.testing.assert_close(back.nll(x, y), m.nll(x, y), rtol=0, atol=0)
    assert read_checkpoint(path)["extra"] == {"note": "hi", "nll": 1.3}
    assert not back.training


def test_round_trip_ensemble(tmp_path):
    ens = MDNEnsemble([_model(1), _model(2)])
    back = load_checkpoint(save_checkpoint(ens, tmp_path / "e.pt"))
    x, y = torch.randn(10), torch.randn(10)
    torch.testing.assert_close(back.nll(x, y), ens.nll(x, y), rtol=0, atol=0)


def test_save_is_atomic_and_keeps_last_good_file(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    good = _model(1)
    save_checkpoint(good, path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(_model(2), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pt"]  # no temporary file left behind


def test_corrupted_and_foreign_files_give_clear_errors(tmp_path):
    path = save_checkpoint(_model(), tmp_path / "m.pt")
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable mdn_helpers checkpoint"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "junk.pt").write_bytes(b"hello, world")
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an mdn_helpers checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mismatched_weights_give_clear_error(tmp_path):
    path = save_checkpoint(_model(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["n_hidden"] = 16
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="do not fit the saved config"):
        load_checkpoint(tmp_path / "bad.pt")


class _Evil:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_loading_never_unpickles_code(tmp_path):
    """A real torch checkpoint (zip) carrying a malicious object: loading it
    must refuse, and the command must not have run."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": "mdn_helpers.checkpoint/1", "kind": "MDN", "config": _model().config,
               "state_dict": _model().state_dict(), "extra": {"x": _Evil(marker)}}
    torch.save(payload, path)
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(path)
    assert not marker.exists()
    # and a plain pickle file is refused too, without running anything
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump(_Evil(marker), f)
    with pytest.raises(ValueError):
        load_checkpoint(tmp_path / "plain.pkl")
    assert not marker.exists()


def test_unloadable_extra_is_refused_and_keeps_the_good_file(tmp_path):
    import numpy as np

    path = save_checkpoint(_model(1), tmp_path / "m.pt")
    before = path.read_bytes()
    with pytest.raises(TypeError, match="extra"):
        save_checkpoint(_model(2), path, extra={"nll": np.float64(1.3)})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.pt"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_save_rejects_unknown_models(tmp_path):
    with pytest.raises(TypeError, match="model must be one of"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")
