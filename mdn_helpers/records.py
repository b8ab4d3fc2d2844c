"""Recorded figures the notebooks quote: the benchmark JSON files beside the package, and the spread table.

A trained model's numbers differ from machine to machine (CPU instruction sets change the last bits
of reductions, and training amplifies them), so the notebooks cite what `benchmarks/spread.py`
recorded over seeds and instruction sets, and print their own run beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["BENCHMARKS", "read_record", "spread_summary", "spread_table"]

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def read_record(name: str) -> dict:
    """The JSON file `benchmarks/<name>` of a source checkout (e.g. "recorded_spread.json")."""
    if not isinstance(name, str) or not name.endswith(".json") or "/" in name or "\\" in name:
        raise ValueError(f"name must be a file name ending in .json, got {name!r}")
    path = BENCHMARKS / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the recorded figures live in a source checkout (benchmarks/)")
    return json.loads(path.read_text())


def spread_summary(table: str, record: dict | None = None) -> dict:
    """One table's pooled summary from recorded_spread.json: {"capabilities", "n_runs", "metrics", "differences"}.

    metrics: {name: {"mean", "sd", "min", "max", "n"}}; differences: {"a − b": the same plus "se"},
    each over every (seed, CPU capability) run stored.
    """
    record = read_record("recorded_spread.json") if record is None else record
    summary = record.get("summary", {})
    if table not in summary:
        raise KeyError(f"table {table!r} is not recorded; recorded: {sorted(summary)} (run benchmarks/spread.py)")
    return summary[table]


def spread_table(table: str, record: dict | None = None, digits: int = 3) -> str:
    """A plain-text table of one recorded spread: each metric's mean ± sd [min, max], then each paired
    difference's mean ± standard error [min, max], over seeds × CPU capabilities."""
    s = spread_summary(table, record)
    fmt = f".{digits}f"
    rows = [(name, m["mean"], m["sd"], m["min"], m["max"]) for name, m in s["metrics"].items()]
    diffs = [(name, d["mean"], d["se"], d["min"], d["max"]) for name, d in s["differences"].items()]
    width = max(len(r[0]) for r in rows + diffs)

    def line(name: str, mean: float, spread: float, lo: float, hi: float, sign: str) -> str:
        err = "nan" if math.isnan(spread) else format(spread, fmt)
        return f"  {name:<{width}}  {mean:{'+' if sign else ''}{fmt}} ± {err}   [{lo:+{fmt}}, {hi:+{fmt}}]"

    n_caps = len(s["capabilities"])
    head = (
        f"{s['n_runs']} runs: {s['n_runs'] // max(n_caps, 1)} seeds × "
        f"{n_caps} CPU {'capability' if n_caps == 1 else 'capabilities'} ({', '.join(s['capabilities'])})"
    )
    out = [head, "  mean ± sd [min, max]:"]
    out += [line(*r, sign="") for r in rows]
    if diffs:
        out.append("  paired differences, mean ± standard error [min, max]:")
        out += [line(*d, sign="+") for d in diffs]
    return "\n".join(out)
