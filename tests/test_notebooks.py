"""The committed notebooks: small, clean, executed, and importing their code.

(nbval re-executes them and compares outputs; this checks what nbval does not.)
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
NAMES = [p.name for p in NOTEBOOKS]
PERSONAL = re.compile(r"(/home/|/root/|/work/|/Users/|C:\\\\Users|/tmp/ipykernel_)")
MODEL_CLASS = re.compile(r"^\s*class\s+\w+\s*\(.*(nn\.Module|Module)\)", re.M)
TEACHING_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.M)
ASSERT = re.compile(r"(assert_close\(|^\s*assert\b)", re.M)


def test_the_three_notebooks_exist():
    assert NAMES == ["01_dataset.ipynb", "02_mdn.ipynb", "03_slogan.ipynb", "04_diagnostics.ipynb",
                     "05_real_data.ipynb"]


@pytest.fixture(params=NOTEBOOKS, ids=NAMES)
def nb(request):
    return request.param, json.loads(request.param.read_text())


def test_size_at_most_2_mb(nb):
    path, _ = nb
    assert path.stat().st_size <= 2 * 1024 * 1024


def test_no_personal_paths_or_errors(nb):
    path, data = nb
    text = path.read_text()
    assert not PERSONAL.search(text), PERSONAL.search(text).group(0)
    for cell in data["cells"]:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", (path.name, "".join(cell["source"])[:80])
            if out["output_type"] == "stream":
                assert out["name"] == "stdout", f"{path.name}: stderr output committed: {out['text'][:200]}"


def test_executed_in_order_with_outputs(nb):
    path, data = nb
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: run top to bottom once before committing"
    assert data["metadata"]["kernelspec"]["name"] == "python3"


def test_cells_stay_short_and_define_no_models(nb):
    """Cells are short; models live in mdn_helpers. A short teaching function
    may be written in a cell if a later cell asserts it against its
    mdn_helpers counterpart (a cell naming it, and an assert)."""
    path, data = nb
    code = ["".join(c["source"]) for c in data["cells"] if c["cell_type"] == "code"]
    for i, src in enumerate(code):
        assert len(src.strip().splitlines()) <= 15, f"{path.name}: a cell over 15 lines belongs in mdn_helpers"
        assert not MODEL_CLASS.search(src), f"{path.name}: model code belongs in mdn_helpers: {src[:80]}"
        for name in TEACHING_DEF.findall(src):
            checked = [c for c in code[i + 1:] if re.search(rf"\b{name}\(", c) and ASSERT.search(c)]
            assert checked, f"{path.name}: {name}() is defined in a cell but no later cell asserts it against mdn_helpers"


def test_images_are_png(nb):
    _, data = nb
    for cell in data["cells"]:
        for out in cell.get("outputs", []):
            kinds = set(out.get("data", {}))
            assert not kinds & {"image/svg+xml", "image/jpeg"}, kinds
