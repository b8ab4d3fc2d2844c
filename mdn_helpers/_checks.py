"""Argument checks shared by the public functions: each error names the argument."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn

#: The largest float32, the dtype every model here computes in.
FLOAT32_MAX = float(torch.finfo(torch.float32).max)
#: Most points one call may draw (two float32 tensors of 400 MB each).
MAX_SAMPLE_SIZE = 100_000_000
#: Widest layer (hidden units, inputs, noise size) a network here may have.
MAX_WIDTH = 100_000
#: Most weights a network here may have (400 MB in float32, before the
#: optimiser's two moment buffers and the gradients quadruple it).
MAX_PARAMETERS = 100_000_000


def check_positive_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """An int (not bool) ≥ minimum (and ≤ maximum if given), or a ValueError/TypeError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and int(value) > maximum:  # int() is exact for an Integral (which lacks __gt__)
        raise ValueError(f"{name} must be <= {maximum:_}, got {value:_}")
    return int(value)


def check_nonneg_int(name: str, value) -> int:
    return check_positive_int(name, value, minimum=0)


def check_bool(name: str, value) -> bool:
    """A bool (not a truthy string or number), or a TypeError naming `name`."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def check_real(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    """A finite real number, optionally ≥ (or > with strict) `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        raise ValueError(f"{name} must be finite, got an int of {len(str(abs(int(value))))} digits") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be {op} {minimum}, got {value}")
    return value


def as_float_tensor(name: str, value) -> Tensor:
    """A floating tensor from a tensor, array or sequence; TypeError naming `name` otherwise."""
    if isinstance(value, Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value)
        except Exception as exc:
            raise TypeError(f"{name} must be a tensor or array of numbers, got {type(value).__name__}") from exc
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
    if t.device.type == "meta":
        raise ValueError(f"{name} is a tensor on the meta device (a shape without values); give one on 'cpu' or 'cuda'")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


def check_finite(name: str, t: Tensor) -> Tensor:
    if t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")
    return t


def check_finite_1d(name: str, value) -> Tensor:
    """A finite, non-empty 1-d floating tensor (n,)."""
    t = as_float_tensor(name, value)
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-d of shape (n,), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    return check_finite(name, t)


def check_inputs(name: str, value, n_in: int | None = None) -> Tensor:
    """A model's inputs: finite, non-empty, (n,) for one feature or (n, d) for d
    features (d == n_in if given; (n,) counts as one feature)."""
    t = as_float_tensor(name, value)
    d = 1 if t.dim() == 1 else (t.shape[1] if t.dim() == 2 else None)
    want = "(n,) or (n, d)" if n_in is None else ("(n,) or (n, 1)" if n_in == 1 else f"(n, {n_in})")
    if d is None or (n_in is not None and d != n_in):
        raise ValueError(f"{name} must be of shape {want}, got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    if d == 0:
        raise ValueError(f"{name} must have at least one feature (column), got shape {tuple(t.shape)}")
    return check_finite(name, t)


def n_features(x: Tensor) -> int:
    """The number of input features of checked inputs x: 1 for (n,), d for (n, d)."""
    return 1 if x.dim() == 1 else int(x.shape[1])


def check_finite_2d(name: str, value, n_cols: int | None = None) -> Tensor:
    """A finite, non-empty 2-d floating tensor (n, d), with d == n_cols if given."""
    t = as_float_tensor(name, value)
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-d of shape (n, d), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    if n_cols is not None and t.shape[1] != n_cols:
        raise ValueError(f"{name} must have {n_cols} column(s), got shape {tuple(t.shape)}")
    if t.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column, got shape {tuple(t.shape)}")
    return check_finite(name, t)


def resolve_device(device) -> torch.device:
    """'cpu', 'cuda', 'cuda:N' or a torch.device; a clear error where CUDA is absent."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu', 'cuda' or a torch.device, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return dev


def check_float32_range(name: str, t: Tensor) -> Tensor:
    """t unchanged if its values stay finite when cast to float32 (the models'
    dtype); a ValueError naming `name` otherwise (float64 values beyond ±3.4e38)."""
    if t.dtype in (torch.float64,) and t.numel() and not bool(torch.isfinite(t.to(torch.float32)).all()):
        big = float(t.abs().max())
        raise ValueError(
            f"{name} must be representable in float32 (|{name}| <= {FLOAT32_MAX:.4g}), "
            f"got a value of magnitude {big:.4g}"
        )
    return t


def check_model(name: str, model, *methods: str) -> Tensor:
    """`model` is an nn.Module with real (not meta) weights and the named
    methods; returns its first parameter (for the device and dtype)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module (a model), got {type(model).__name__}")
    for m in methods:
        if not callable(getattr(model, m, None)):
            raise TypeError(f"{name} must have a .{m}() method, got a {type(model).__name__} without one")
    params = list(model.parameters())
    if not params:
        raise ValueError(f"{name} has no parameters (weights): a {type(model).__name__} is not a trained model")
    if any(p.device.type == "meta" for p in params):
        raise ValueError(
            f"{name} has weights on the meta device (shapes without values); build or load it on 'cpu' or 'cuda'"
        )
    return params[0]


def check_weights_not_meta(weight: Tensor, owner: str, arg: str) -> None:
    """A ValueError naming `arg` if `owner`'s weights are on the meta device
    (shapes without values): nothing can be computed from `arg` with them."""
    if weight.device.type == "meta":
        raise ValueError(
            f"{owner} has weights on the meta device (shapes without values), so {arg} cannot be "
            "evaluated on it; build or load it on 'cpu' or 'cuda'"
        )


def check_parameter_count(what: str, count: int, arguments: str) -> None:
    """A ValueError if a network of `count` weights would exceed MAX_PARAMETERS;
    `arguments` names the arguments that set its size."""
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"{what} would have {count:_} weights, more than the {MAX_PARAMETERS:_} allowed; use smaller {arguments}"
        )


def check_pair(x: Tensor, y: Tensor, x_name: str = "x", y_name: str = "y") -> tuple[Tensor, Tensor]:
    """Validate two finite 1-d tensors of one length; return them as float tensors."""
    x = check_finite_1d(x_name, x)
    y = check_finite_1d(y_name, y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x_name} and {y_name} must have the same length, got {x.shape[0]} and {y.shape[0]}")
    return x, y


def check_xy(
    x: Tensor,
    y: Tensor,
    x_name: str = "x",
    y_name: str = "y",
    n_in: int | None = None,
    *,
    multi_output: bool = False,
) -> tuple[Tensor, Tensor]:
    """Validate inputs x (n,) or (n, d) (d == n_in if given) and a finite
    target y (n,) — or, with multi_output, (n,) or (n, d_out); return them as float tensors."""
    x = check_inputs(x_name, x, n_in)
    if multi_output and as_float_tensor(y_name, y).dim() == 2:
        y = check_finite_2d(y_name, y)
        if y.shape[1] < 2:
            raise ValueError(
                f"{y_name} must be (n,) for one output or (n, d_out) with d_out >= 2, got shape {tuple(y.shape)}"
            )
    else:
        y = check_finite_1d(y_name, y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x_name} and {y_name} must have the same length (rows), got {x.shape[0]} and {y.shape[0]}")
    return x, y


def as_float64_1d(name: str, value) -> Tensor:
    """A finite float64 tensor of shape (n,) (a number counts as (1,)); a
    ValueError naming `name` for 2-d or more, which is never flattened."""
    t = as_float_tensor(name, value)
    if t.dim() > 1:
        raise ValueError(f"{name} must be 1-d of shape (n,), got shape {tuple(t.shape)}")
    return check_finite(name, t.to(torch.float64).reshape(-1))
