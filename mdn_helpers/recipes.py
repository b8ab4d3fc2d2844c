"""Recipes as data: the fields every trainer's recipe shares (`Recipe`), and
how a preset's name or a recipe plus per-call overrides becomes the recipe
used (`resolve_recipe`). Each trainer's recipe (`train.MDNRecipe`,
`slogan_train.SloganRecipe`) subclasses `Recipe`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from ._checks import MAX_SAMPLE_SIZE, check_bool, check_positive_int, check_real

#: Most steps a recipe may ask for: about a day for the default MDN on one CPU core.
MAX_STEPS = 10_000_000

SCHEDULES = ("cosine", "step", "constant")

# A recipe class: `resolve_recipe` returns a recipe of the class it is given.
_R = TypeVar("_R", bound="Recipe")


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """Fields every recipe has (each trainer's recipe adds its own).

    steps: optimiser steps (for SLOGAN, generator steps). batch_size: points
    per step (None: the whole training set). lr: learning rate. schedule:
    "cosine" (to 0 over the run), "step" (divided by `lr_factor` at each step
    in `lr_drops`) or "constant". fresh: draw new points of the data set every
    step instead of reading a fixed training set; shuffle: reshuffle a fixed
    set each pass (False reads it in order). eval_every: steps between
    evaluations (and callbacks).
    """

    name: str = "custom"
    steps: int
    batch_size: int | None
    lr: float
    schedule: str = "cosine"
    lr_drops: tuple[int, ...] = ()
    lr_factor: float = 3.0
    fresh: bool = False
    shuffle: bool = True
    eval_every: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")
        check_positive_int("steps", self.steps, minimum=0, maximum=MAX_STEPS)
        if self.batch_size is not None:
            check_positive_int("batch_size", self.batch_size, maximum=MAX_SAMPLE_SIZE)
        check_real("lr", self.lr, minimum=0.0, strict=True)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not isinstance(self.lr_drops, (tuple, list)):
            raise TypeError(f"lr_drops must be a tuple of step numbers, got {type(self.lr_drops).__name__}")
        object.__setattr__(self, "lr_drops", tuple(self.lr_drops))  # a list (from JSON, say) becomes a tuple
        for d in self.lr_drops:
            check_positive_int("lr_drops", d)
        check_real("lr_factor", self.lr_factor, minimum=0.0, strict=True)
        check_bool("fresh", self.fresh)
        check_bool("shuffle", self.shuffle)
        check_positive_int("eval_every", self.eval_every)
        if self.fresh and self.batch_size is None:
            raise ValueError("fresh=True needs a batch_size (points drawn per step)")

    def scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        """This recipe's learning-rate schedule for `optimizer`, stepped once per step."""
        sched = torch.optim.lr_scheduler
        if self.schedule == "cosine":
            return sched.CosineAnnealingLR(optimizer, T_max=max(self.steps, 1))
        if self.schedule == "step":
            return sched.MultiStepLR(optimizer, milestones=list(self.lr_drops), gamma=1.0 / self.lr_factor)
        return sched.ConstantLR(optimizer, factor=1.0, total_iters=0)


def resolve_recipe(recipe: str | _R, presets: Mapping[str, _R], cls: type[_R], overrides: dict[str, Any]) -> _R:
    """A preset's name or a recipe of type `cls`, with `overrides` (field=value) applied."""
    if isinstance(recipe, str) and recipe in presets:
        rec = presets[recipe]
    elif isinstance(recipe, cls):
        rec = recipe
    else:
        raise ValueError(f"recipe must be one of {sorted(presets)} or a {cls.__name__}, got {recipe!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"unknown recipe field(s) {unknown}; a {cls.__name__} has {sorted(names)}")
    return dataclasses.replace(rec, **overrides) if overrides else rec
