"""Checkpoints: weights plus the constructor config, saved atomically, loaded
without unpickling code (``torch.load(weights_only=True)``).

A checkpoint is a dict ``{"format", "kind", "config", "state_dict", "extra"}``
holding only tensors, numbers, strings, lists and dicts.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

FORMAT = "mdn_helpers.checkpoint/1"

# kind → (class, builder from config); other modules register theirs.
_KINDS: dict[str, tuple[type, Callable[[dict], nn.Module]]] = {}


def register_kind(name: str, cls: type, build: Callable[[dict], nn.Module]) -> None:
    """Make `cls` saveable: `build(config)` must return a fresh instance."""
    _KINDS[name] = (cls, build)


def _kind_of(model: nn.Module) -> str:
    for name, (cls, _) in _KINDS.items():
        if type(model) is cls:
            return name
    known = ", ".join(sorted(_KINDS))
    raise TypeError(f"model must be one of {known}, got {type(model).__name__}")


def save_checkpoint(model: nn.Module, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write `model` to `path` atomically: a temporary file in the same folder,
    then a rename, so an interrupted save never leaves a half-written file."""
    path = Path(path)
    kind = _kind_of(model)
    payload = {
        "format": FORMAT,
        "kind": kind,
        "config": getattr(model, "config"),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        try:  # never replace a good file with one that load_checkpoint would refuse
            torch.load(tmp, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise TypeError("extra and the model's config must hold only numbers, strings, bools, None, "
                            f"tensors, lists and dicts (loadable with weights_only=True): {exc}") from exc
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's dict, checked; ValueError if the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read means a bad file
        raise ValueError(f"{path} is not a readable mdn_helpers checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an mdn_helpers checkpoint (format {FORMAT!r} expected)")
    for key in ("kind", "config", "state_dict"):
        if key not in payload:
            raise ValueError(f"{path} is missing {key!r}")
    if payload["kind"] not in _KINDS:
        raise ValueError(f"{path} holds an unknown kind {payload['kind']!r}; known: {sorted(_KINDS)}")
    return payload


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model saved at `path` (in eval mode, on `device`)."""
    payload = read_checkpoint(path)
    _, build = _KINDS[payload["kind"]]
    try:
        model = build(payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{path}: weights do not fit the saved config ({exc})") from exc
    return model.to(device).eval()


def _register_builtin() -> None:
    from .mdn import MDN, MDNEnsemble

    register_kind("MDN", MDN, lambda c: MDN(**c))
    register_kind("MDNEnsemble", MDNEnsemble, lambda c: MDNEnsemble([MDN(**m) for m in c["members"]]))


_register_builtin()
