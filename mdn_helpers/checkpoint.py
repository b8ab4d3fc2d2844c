"""Checkpoints: weights plus the constructor config, saved atomically, loaded
without unpickling code (``torch.load(weights_only=True)``).

A checkpoint is a dict ``{"format", "kind", "config", "state_dict", "extra"}``
holding only tensors, numbers, strings, lists and dicts, in torch's zip format.

Loading trusts nothing in the file: the zip's CRC-32s are verified, the config
is built on the ``meta`` device (no memory) and must imply exactly the saved
tensors' names and shapes, and the weights must be finite and agree with the
config, all before a real model is built.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

FORMAT = "mdn_helpers.checkpoint/1"
#: Largest int a config may hold, and most values (weights and buffers) it may imply.
MAX_CONFIG_INT = 1_000_000
MAX_VALUES = 100_000_000
#: Torch calls a meta build may make per saved tensor: far more than any kind needs.
_OPS_PER_TENSOR = 64
_PROC_STATUS = "/proc/self/status"

Check = Callable[[dict, dict], None]
# kind → (class, builder from config, check of config against the weights or None).
_KINDS: dict[str, tuple[type, Callable[[dict], nn.Module], Check | None]] = {}


def register_kind(name: str, cls: type, build: Callable[[dict], nn.Module], check: Check | None = None) -> None:
    """Make `cls` saveable: `build(config)` must return a fresh instance.

    `check(config, tensors)`, if given, raises ValueError where the loaded
    tensors (cast to the model's dtypes) contradict the config (the one the
    model built from the file reports, defaults filled in).
    """
    _KINDS[name] = (cls, build, check)


def _kind_of(model: nn.Module) -> str:
    for name, (cls, _, _) in _KINDS.items():
        if type(model) is cls:
            return name
    known = ", ".join(sorted(_KINDS))
    raise TypeError(f"model must be one of {known}, got {type(model).__name__}")


def _umask() -> int:
    """The process umask, read from /proc where it can be (changing nothing)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open(_PROC_STATUS) as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o077)  # process-wide for an instant: 077 narrows, never widens, a racing file
    os.umask(old)
    return old


def _mode_for(path: Path) -> int:
    """An existing file keeps its mode; a new one gets 0o666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _as_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (a file name), got {type(path).__name__}")
    return Path(path)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write `model` to `path` atomically: a temporary file in the same folder,
    then a rename, so an interrupted save never leaves a half-written file.

    The written file is checked as `load_checkpoint` would check it before it
    replaces anything; a replaced file keeps its permissions.
    """
    path = _as_path(path)
    kind = _kind_of(model)
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(
            f"extra must be a dict of numbers, strings, tensors, lists and dicts, got {type(extra).__name__}"
        )
    payload = {
        "format": FORMAT,
        "kind": kind,
        "config": model.config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            crc = torch.serialization.get_crc32_options()
            torch.serialization.set_crc32_options(True)  # loading verifies the CRCs
            try:
                torch.save(payload, f)
            finally:
                torch.serialization.set_crc32_options(crc)
            f.flush()
            os.fsync(f.fileno())
        try:  # never replace a good file with one that load_checkpoint would refuse
            back = torch.load(tmp, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:  # what weights_only refuses
            raise TypeError(
                "extra and the model's config must hold only numbers, strings, bools, None, "
                f"tensors, lists and dicts (loadable with weights_only=True): {exc}"
            ) from exc
        try:
            _check_weights(path, back)
        except ValueError as exc:
            raise ValueError(f"not saved, the checkpoint would not load: {exc}") from exc
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _zip_problem(data: bytes) -> str | None:
    """What is wrong with `data` as torch's (uncompressed) zip, or None."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if any(i.compress_type != zipfile.ZIP_STORED for i in z.infolist()):
                return "it has compressed members, which torch.save never writes"
            bad = z.testzip()
    except Exception as exc:  # noqa: BLE001 - truncated or not a zip at all
        return f"not a complete zip archive: {type(exc).__name__}: {exc}"
    if bad is not None:
        return (
            f"member {bad!r} fails its CRC-32 check: the file is corrupted "
            "(or was written with torch.serialization.set_crc32_options(False))"
        )
    return None


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's dict, checked; ValueError if the file is not one, or is corrupted."""
    path = _as_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    data = path.read_bytes()  # read once: the bytes checked are the bytes loaded
    problem = _zip_problem(data)
    if problem:
        raise ValueError(f"{path} is not a readable mdn_helpers checkpoint ({problem})")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable mdn_helpers checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an mdn_helpers checkpoint (format {FORMAT!r} expected)")
    for key in ("kind", "config", "state_dict"):
        if key not in payload:
            raise ValueError(f"{path} is missing {key!r}")
    if not isinstance(payload["kind"], str) or payload["kind"] not in _KINDS:
        raise ValueError(f"{path} holds an unknown kind {payload['kind']!r}; known: {sorted(_KINDS)}")
    state = payload["state_dict"]
    if not isinstance(payload["config"], dict) or not isinstance(payload.get("extra", {}), dict):
        raise ValueError(f"{path}: config and extra must be dicts")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) and v.layout == torch.strided for k, v in state.items()
    ):
        raise ValueError(f"{path}: state_dict must be a dict of names to dense tensors")
    return payload


def _check_sizes(path: Path, config: dict) -> None:
    """Refuse any int in the (nested) config above MAX_CONFIG_INT, naming its field."""
    stack: list[tuple[str, object]] = [("config", config)]
    seen: set[int] = set()  # a container the file references 10⁵ times is walked once
    while stack:
        name, value = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if id(value) in seen:
                continue
            seen.add(id(value))
        if isinstance(value, dict):
            stack += [(f"{name}[{k!r}]", v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            stack += [(f"{name}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, int) and not isinstance(value, bool) and value > MAX_CONFIG_INT:
            raise ValueError(f"{path}: {name} = {value} is above the limit {MAX_CONFIG_INT:,}")


class _OpBudget(TorchFunctionMode):
    """Stops a build after `n` torch calls (thread-local, like every torch mode)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Collection[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("torch-call budget spent")
        return func(*args, **(kwargs or {}))


def _build_meta(path: Path, kind: str, config: dict, n_tensors: int) -> nn.Module:
    """`config` built on the meta device, which allocates nothing; a config that
    needs far more work than the saved tensors could explain (10⁵ layers) is cut short."""
    budget = _OpBudget(_OPS_PER_TENSOR * (n_tensors + 4))
    try:
        with torch.device("meta"), budget:
            return _KINDS[kind][1](config)
    except Exception as exc:
        if budget.left < 0:
            raise ValueError(
                f"{path}: the config describes a far bigger model than the {n_tensors} saved tensors"
            ) from None
        raise ValueError(f"{path}: weights do not fit the saved config ({type(exc).__name__}: {exc})") from exc


def _check_weights(path: Path, payload: dict) -> None:
    """Everything `load_checkpoint` checks before it builds the model for real:
    sizes, names and shapes implied by the config, finite values, the kind's check."""
    kind, config, saved = payload["kind"], payload["config"], payload["state_dict"]
    _check_sizes(path, config)
    meta = _build_meta(path, kind, config, len(saved))
    expected = meta.state_dict()
    if saved.keys() != expected.keys():
        missing, unexpected = sorted(expected.keys() - saved.keys()), sorted(saved.keys() - expected.keys())
        raise ValueError(
            f"{path}: weights do not fit the saved config "
            f"(missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]})"
        )
    for name, want in expected.items():
        t = saved[name]
        if t.shape != want.shape or t.is_floating_point() != want.is_floating_point():
            raise ValueError(
                f"{path}: weights do not fit the saved config: {name} is {t.dtype} "
                f"{tuple(t.shape)} in the file, the config implies {want.dtype} {tuple(want.shape)}"
            )
    n_values = sum(t.numel() for t in expected.values())
    if n_values > MAX_VALUES:
        raise ValueError(f"{path}: the config implies {n_values:,} weights, above the limit {MAX_VALUES:,}")
    cast = {name: saved[name].to(want.dtype) for name, want in expected.items()}  # as load_state_dict will
    for name, t in cast.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{path}: tensor {name} holds NaN or infinite values")
    check = _KINDS[kind][2]
    if check is not None:
        try:
            check(getattr(meta, "config", config), cast)  # the model's config: defaults filled in
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: {exc}") from None


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model saved at `path` (in eval mode, on `device`).

    ValueError, naming the file, for a corrupted file or one whose config and
    weights disagree; nothing is built for real until they are found to agree.
    """
    from ._checks import resolve_device

    dev = resolve_device(device)
    path = _as_path(path)
    payload = read_checkpoint(path)
    _check_weights(path, payload)
    _, build, _ = _KINDS[payload["kind"]]
    try:
        model = build(payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{path}: weights do not fit the saved config ({exc})") from exc
    return model.to(dev).eval()


def _show(v: float | Sequence[float]) -> str:
    """A number (:g) or a list of numbers, for a message."""
    return f"{v:g}" if isinstance(v, (int, float)) else "[" + ", ".join(f"{u:g}" for u in v) + "]"


def _check_mdn(config: dict, tensors: dict, prefix: str = "") -> None:
    """The scaling buffers must hold the config's values, as the constructor sets them (scales > 0)."""
    for name in ("x_loc", "x_scale", "y_loc", "y_scale"):
        t = tensors[prefix + name]
        if not torch.equal(t, torch.tensor(config[name], dtype=t.dtype)) or (
            name.endswith("scale") and bool((t <= 0).any())
        ):
            raise ValueError(
                f"buffer {prefix}{name} holds {_show(t.tolist())}, but the config says "
                f"{_show(config[name])}"
                " (the two must agree, and scales must be > 0)"
            )


def _check_ensemble(config: dict, tensors: dict) -> None:
    for i, member in enumerate(config["members"]):
        _check_mdn(member, tensors, f"members.{i}.")


def _register_builtin() -> None:
    from .mdn import MDN, MDNEnsemble

    register_kind("MDN", MDN, lambda c: MDN(**c), check=_check_mdn)
    register_kind(
        "MDNEnsemble", MDNEnsemble, lambda c: MDNEnsemble([MDN(**m) for m in c["members"]]), check=_check_ensemble
    )


_register_builtin()
