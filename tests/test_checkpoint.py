"""Checkpoints round-trip, are written atomically, never unpickle code, and refuse
corrupted files, configs that disagree with their weights, and bad weights."""

import contextlib
import os
import pickle
import struct
import zipfile

import pytest
import torch

from mdn_helpers import checkpoint as ckpt
from mdn_helpers.checkpoint import FORMAT, _kind_of, load_checkpoint, read_checkpoint, save_checkpoint
from mdn_helpers.mdn import MDN, MDNEnsemble


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return MDN(n_hidden=8, n_components=3, x_loc=0.5, x_scale=6.0, y_loc=-1.0, y_scale=5.5, **kw)


@pytest.mark.slow
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
    payload = {
        "format": "mdn_helpers.checkpoint/1",
        "kind": "MDN",
        "config": _model().config,
        "state_dict": _model().state_dict(),
        "extra": {"x": _Evil(marker)},
    }
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
    before, mode = path.read_bytes(), path.stat().st_mode
    with pytest.raises(TypeError, match="extra"):
        save_checkpoint(_model(2), path, extra={"nll": np.float64(1.3)})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.pt"]
    assert path.stat().st_mode == mode


def test_save_rejects_unknown_models(tmp_path):
    with pytest.raises(TypeError, match="model must be one of"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")


# ---------------------------------------------------------------------------
# Hardening: corrupted files, crafted configs, bad weights, permissions
# ---------------------------------------------------------------------------


def _payload(model):
    return {
        "format": FORMAT,
        "kind": _kind_of(model),
        "config": model.config,
        "state_dict": model.state_dict(),
        "extra": {},
    }


def _data_span(path, member):
    """(start, size) of `member`'s bytes inside the zip at `path`."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def test_flipped_bytes_in_tensor_data_are_refused(tmp_path):
    torch.manual_seed(0)
    m = MDN(n_hidden=32, n_components=3)
    path = save_checkpoint(m, tmp_path / "m.pt")
    with zipfile.ZipFile(path) as z:
        member = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size).filename
    start, size = _data_span(path, member)
    assert size >= 256
    data = bytearray(path.read_bytes())
    mid = start + size // 2 - 32
    data[mid : mid + 64] = bytes(b ^ 0xFF for b in data[mid : mid + 64])
    path.write_bytes(bytes(data))
    # torch.load alone takes it, with other weights: the reported problem
    sd = torch.load(path, weights_only=True)["state_dict"]
    assert any(not torch.equal(sd[k], v) for k, v in m.state_dict().items())
    for fn in (load_checkpoint, read_checkpoint):
        with pytest.raises(ValueError, match="CRC-32") as err:
            fn(path)
        assert str(path) in str(err.value) and member in str(err.value)


@pytest.mark.parametrize("keep", [0, 1, 100, -1, -22, -200])
def test_truncated_files_give_clear_errors(tmp_path, keep):
    data = save_checkpoint(_model(), tmp_path / "m.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[:keep])
    with pytest.raises(ValueError, match="not a readable mdn_helpers checkpoint") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_compressed_members_are_refused(tmp_path):
    src = save_checkpoint(_model(), tmp_path / "m.pt")
    path = tmp_path / "deflated.pt"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as b:
        for info in a.infolist():
            b.writestr(info.filename, a.read(info))
    with pytest.raises(ValueError, match="compressed"):
        load_checkpoint(path)


def test_save_writes_crcs_even_when_torch_is_told_not_to(tmp_path):
    old = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(False)
    try:
        path = save_checkpoint(_model(), tmp_path / "m.pt")
    finally:
        torch.serialization.set_crc32_options(old)
    assert torch.serialization.get_crc32_options() == old
    assert isinstance(load_checkpoint(path), MDN)


def test_config_far_bigger_than_the_weights_is_refused_before_building(tmp_path, monkeypatch):
    payload = _payload(_model())
    payload["config"] = dict(payload["config"], n_hidden=3000)  # within MDN's own limits: shapes decide
    torch.save(payload, tmp_path / "big.pt")
    builds = []
    cls, build, check = ckpt._KINDS["MDN"]

    def spy(config):
        model = build(config)
        builds.append({p.device.type for p in model.parameters()})
        return model

    monkeypatch.setitem(ckpt._KINDS, "MDN", (cls, spy, check))
    with pytest.raises(ValueError, match=r"body\.0\.weight .*\(8, 1\).*\(3000, 1\)") as err:
        load_checkpoint(tmp_path / "big.pt")
    assert str(tmp_path / "big.pt") in str(err.value)
    assert builds == [{"meta"}]  # nothing was built for real
    # 30,000 wide: MDN's own size limit refuses it, still before anything is built for real
    payload["config"]["n_hidden"] = 30000
    torch.save(payload, tmp_path / "bigger.pt")
    builds.clear()
    with pytest.raises(ValueError, match=r"bigger\.pt: .*900_360_009 weights, more than the 100_000_000 allowed"):
        load_checkpoint(tmp_path / "bigger.pt")
    assert builds == []


def test_slogan_config_far_bigger_than_the_weights_is_refused(tmp_path):
    from mdn_helpers.slogan import Critic

    payload = _payload(Critic(n_hidden=4))
    payload["config"] = {"n_hidden": 3000}
    torch.save(payload, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"do not fit the saved config: l1\.weight"):
        load_checkpoint(tmp_path / "c.pt")


def test_absurd_config_sizes_are_refused(tmp_path, monkeypatch):
    def crafted(name, **config):
        payload = _payload(_model())
        payload["config"].update(config)
        torch.save(payload, tmp_path / name)
        return tmp_path / name

    with pytest.raises(ValueError, match=r"config\['n_hidden'\] = 2000000 is above the limit"):
        load_checkpoint(crafted("wide.pt", n_hidden=2_000_000))
    # 10^5 layers would take a minute to build even on the meta device: MDN's limit refuses them
    with pytest.raises(ValueError, match="n_layers must be <= 1_000"):
        load_checkpoint(crafted("deeper.pt", n_layers=100_000))
    # 10^3 layers pass that limit, and the meta build is cut short
    with pytest.raises(ValueError, match="far bigger model than the 10 saved tensors"):
        load_checkpoint(crafted("deep.pt", n_layers=1000))
    # an ensemble of 2·10^4 references to one member's config: a small file
    payload = _payload(MDNEnsemble([_model()]))
    payload["config"]["members"] = payload["config"]["members"] * 20_000
    torch.save(payload, tmp_path / "many.pt")
    with pytest.raises(ValueError, match="far bigger model"):
        load_checkpoint(tmp_path / "many.pt")
    # the count of weights a config implies is capped too
    monkeypatch.setattr(ckpt, "MAX_VALUES", 50)
    with pytest.raises(ValueError, match="implies 173 weights, above the limit 50"):
        load_checkpoint(crafted("ok.pt"))


@pytest.mark.parametrize(
    "payload_change, match",
    [
        (lambda p: p.__setitem__("config", [1, 2]), "config and extra must be dicts"),
        (lambda p: p.__setitem__("extra", "x"), "config and extra must be dicts"),
        (lambda p: p["state_dict"].__setitem__("head.lin.bias", [0.0] * 9), "dict of names to dense tensors"),
        (lambda p: p.__setitem__("kind", ["MDN"]), "unknown kind"),
        (lambda p: p["config"].__setitem__("activation", 3), "do not fit the saved config"),
        (lambda p: p["state_dict"].pop("y_scale"), r"missing tensors \['y_scale'\]"),
        (lambda p: p["state_dict"].__setitem__("extra.w", torch.zeros(1)), r"unexpected tensors \['extra.w'\]"),
        (lambda p: p["state_dict"].__setitem__("head.lin.bias", torch.zeros(9, dtype=torch.long)), "torch.int64"),
    ],
)
def test_malformed_payloads_give_clear_errors(tmp_path, payload_change, match):
    payload = _payload(_model())
    payload_change(payload)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=match) as err:
        load_checkpoint(tmp_path / "bad.pt")
    assert str(tmp_path / "bad.pt") in str(err.value)


@pytest.mark.parametrize(
    "name, value", [("head.lin.weight", float("nan")), ("body.0.bias", float("inf")), ("x_loc", float("nan"))]
)
def test_non_finite_weights_are_refused(tmp_path, name, value):
    payload = _payload(_model())
    payload["state_dict"][name].view(-1)[0] = value
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=f"tensor {name} holds NaN or infinite") as err:
        load_checkpoint(tmp_path / "nan.pt")
    assert str(tmp_path / "nan.pt") in str(err.value)


def test_float64_weights_that_overflow_float32_are_refused(tmp_path):
    payload = _payload(_model())
    payload["state_dict"] = {k: v.double() for k, v in payload["state_dict"].items()}
    payload["state_dict"]["head.lin.bias"][0] = 1e300
    torch.save(payload, tmp_path / "big.pt")
    with pytest.raises(ValueError, match=r"head\.lin\.bias holds NaN or infinite"):
        load_checkpoint(tmp_path / "big.pt")


def test_saving_non_finite_weights_is_refused_and_keeps_the_good_file(tmp_path):
    path = save_checkpoint(_model(1), tmp_path / "m.pt")
    before = path.read_bytes()
    bad = _model(2)
    with torch.no_grad():
        bad.head.lin.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"not saved.*head\.lin\.weight holds NaN"):
        save_checkpoint(bad, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pt"]


def test_buffers_that_contradict_the_config_are_refused(tmp_path):
    payload = _payload(_model())
    payload["state_dict"]["y_scale"] = torch.tensor(-1.0)
    torch.save(payload, tmp_path / "neg.pt")
    with pytest.raises(ValueError, match=r"buffer y_scale holds -1, but the config says 5\.5") as err:
        load_checkpoint(tmp_path / "neg.pt")
    assert str(tmp_path / "neg.pt") in str(err.value)
    # both saying -1: the constructor's own rule refuses the config
    payload["config"]["y_scale"] = -1.0
    torch.save(payload, tmp_path / "neg2.pt")
    with pytest.raises(ValueError, match="y_scale must be > 0"):
        load_checkpoint(tmp_path / "neg2.pt")
    payload = _payload(MDNEnsemble([_model(1), _model(2)]))
    payload["state_dict"]["members.1.x_loc"] = torch.tensor(0.25)
    torch.save(payload, tmp_path / "ens.pt")
    with pytest.raises(ValueError, match=r"buffer members\.1\.x_loc holds 0.25, but the config says 0.5"):
        load_checkpoint(tmp_path / "ens.pt")


def test_float64_models_round_trip(tmp_path):
    m = _model().double()
    back = load_checkpoint(save_checkpoint(m, tmp_path / "m.pt"))
    assert back.x_scale.dtype == torch.float32 and float(back.x_scale) == 6.0


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("from_proc", [True, False])
def test_new_files_follow_the_umask(tmp_path, monkeypatch, from_proc):
    if not from_proc:
        monkeypatch.setattr(ckpt, "_PROC_STATUS", str(tmp_path / "absent"))
    with _umask(0o077):
        path = save_checkpoint(_model(), tmp_path / "m.pt")
        assert os.umask(0o077) == 0o077  # left as it was
    assert path.stat().st_mode & 0o777 == 0o600
    with _umask(0o027):
        assert save_checkpoint(_model(), tmp_path / "g.pt").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_overwriting_keeps_the_file_mode(tmp_path, mode):
    path = save_checkpoint(_model(1), tmp_path / "m.pt")
    path.chmod(mode)
    with _umask(0o022):
        save_checkpoint(_model(2), path)
    assert path.stat().st_mode & 0o777 == mode
    assert load_checkpoint(path).config == _model(2).config


def test_save_and_the_meta_checks_leave_the_global_rng_alone(tmp_path):
    m = _model()
    state = torch.get_rng_state()
    path = save_checkpoint(m, tmp_path / "m.pt")
    ckpt._check_weights(path, read_checkpoint(path))
    assert torch.equal(torch.get_rng_state(), state)


def test_load_checkpoint_names_a_bad_device(tmp_path):
    from mdn_helpers.mdn import MDN

    path = save_checkpoint(MDN(), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="device"):
        load_checkpoint(path, device="bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_checkpoint(path, device="cuda")


def test_round_trip_two_input_features(tmp_path):
    torch.manual_seed(0)
    m = MDN(2, n_hidden=8, n_components=3, x_loc=[0.5, -2.0], x_scale=[6.0, 0.25], y_loc=-1.0, y_scale=5.5)
    back = load_checkpoint(save_checkpoint(m, tmp_path / "m2.pt"))
    assert back.config == m.config and back.config["x_scale"] == [6.0, 0.25]
    assert back.x_loc.shape == (2,)
    x, y = torch.randn(20, 2), torch.randn(20)
    torch.testing.assert_close(back.nll(x, y), m.nll(x, y), rtol=0, atol=0)
    # a per-feature buffer that contradicts the config is refused, naming both
    payload = _payload(m)
    payload["state_dict"]["x_scale"] = torch.tensor([6.0, 0.5])
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"buffer x_scale holds \[6, 0.5\], but the config says \[6, 0.25\]"):
        load_checkpoint(tmp_path / "bad.pt")
