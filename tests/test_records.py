"""mdn_helpers.records and benchmarks/spread.py's summary: pooled spreads, checked against numpy."""

import sys
from pathlib import Path

import numpy as np
import pytest

from mdn_helpers.records import read_record, spread_summary, spread_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import spread


def _record():
    rng = np.random.default_rng(0)
    runs = {}
    for cap in ("AVX2", "DEFAULT"):
        rows = [{"seed": s, **{k: float(rng.normal(1.4, 0.05)) for k in spread.ladder_names()}} for s in range(3)]
        runs[cap] = {"ladder": {"rows": rows}}
    return {"runs": runs, "summary": spread.summarise(runs)}


def test_summary_pools_capabilities_and_seeds_against_numpy():
    rec = _record()
    rows = [r for run in rec["runs"].values() for r in run["ladder"]["rows"]]
    s = spread_summary("ladder", rec)
    assert s["n_runs"] == 6 and s["capabilities"] == ["AVX2", "DEFAULT"]
    v = np.array([r["+ jitter"] for r in rows])
    m = s["metrics"]["+ jitter"]
    assert m["mean"] == pytest.approx(v.mean()) and m["sd"] == pytest.approx(v.std(ddof=1))
    assert (m["min"], m["max"]) == (v.min(), v.max())
    d = np.array([r["+ cosine"] - r["+ jitter"] for r in rows])
    dd = s["differences"]["+ cosine − + jitter"]
    assert dd["mean"] == pytest.approx(d.mean()) and dd["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(6))


def test_spread_table_prints_every_metric_and_difference():
    rec = _record()
    text = spread_table("ladder", rec)
    s = spread_summary("ladder", rec)
    assert text.startswith("6 runs: 3 seeds × 2 CPU capabilities (AVX2, DEFAULT)")
    for name, m in s["metrics"].items():
        assert f"{name}" in text and f"{m['mean']:.3f} ± {m['sd']:.3f}" in text
    for name, d in s["differences"].items():
        assert f"{name}" in text and f"{d['mean']:+.3f} ± {d['se']:.3f}" in text


def test_records_refuse_bad_names_and_missing_tables():
    with pytest.raises(ValueError, match=r"name must be a file name ending in \.json"):
        read_record("../secrets.json")
    with pytest.raises(FileNotFoundError, match="not found"):
        read_record("no_such_record.json")
    with pytest.raises(KeyError, match="table 'nope' is not recorded"):
        spread_summary("nope", _record())


def test_the_committed_spread_covers_three_capabilities_and_five_seeds():
    rec = read_record("recorded_spread.json")
    for table in spread.TABLES:
        s = spread_summary(table, rec)
        assert len(s["capabilities"]) >= 3 and s["n_runs"] >= 15, (table, s["capabilities"], s["n_runs"])
