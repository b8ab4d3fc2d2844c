"""The committed notebooks: small, clean, executed, and importing their code.

(nbval re-executes them and compares outputs; this checks what nbval does not.)
"""

import ast
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
CHAPTERS = (NB_DIR / "chapters.txt").read_text().split()  # the one list, read by the Makefile too
NOTEBOOKS = [NB_DIR / name for name in CHAPTERS]
NAMES = CHAPTERS
PERSONAL = re.compile(r"(/home/|/root/|/work/|/Users/|C:\\\\Users|/tmp/ipykernel_)")


def test_the_chapter_list_names_every_notebook_once():
    assert sorted(CHAPTERS) == sorted(p.name for p in NB_DIR.glob("*.ipynb")), "notebooks/chapters.txt is out of date"
    assert len(set(CHAPTERS)) == len(CHAPTERS)
    numbers = [name.split("_")[0] for name in CHAPTERS]
    assert numbers == [f"{i:02d}" for i in range(1, len(CHAPTERS) + 1)], "chapters are numbered 01, 02, ... in order"


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


def _statements(src: str) -> int:
    """The number of logical lines (statements) in a cell: what ruff format's wrapping does not change."""
    return sum(tok.type == tokenize.NEWLINE for tok in tokenize.generate_tokens(io.StringIO(src + "\n").readline))


def test_cells_stay_short(nb):
    path, data = nb
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            src = _code(cell).strip()
            head = src.splitlines()[0] if src else ""
            assert _statements(src) <= 15, f"{path.name}: a cell over 15 statements belongs in mdn_helpers: {head}"
            assert len(src.splitlines()) <= 35, f"{path.name}: a cell over 35 lines belongs in mdn_helpers: {head}"


# --- Teaching code is checked against the package ------------------------------------------
# A notebook may write a core piece itself (a loss, a model, a training loop), d2l style, if a
# later cell asserts it equal to its mdn_helpers counterpart. The rule, on the cells' syntax:
#  * teaching code: a top-level `def` or `class`, or a `for`/`while` loop that calls .backward();
#  * every name is traced to where its value came from: "own:<name>" for teaching code (and
#    anything computed from it), "pkg" for what is imported from mdn_helpers (and anything
#    computed from that);
#  * each piece of teaching code needs a later cell with torch.testing.assert_close(a, b) (or
#    `assert torch.equal(a, b)` / `assert torch.allclose(a, b)`) where one side derives from it
#    and the other derives from the package and not from any teaching code.
# So a function compared with itself, with a constant or with other notebook code fails, and
# nbval then runs the comparison.

CHECKS = {"assert_close", "equal", "allclose"}


def _code(cell) -> str:
    """A cell's source without IPython magics and shell lines."""
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in "".join(cell["source"]).splitlines())


def _names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _target_names(target) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _check_calls(tree):
    """(first, second) argument nodes of every equality check in a cell."""
    for node in ast.walk(tree):
        call = node.test if isinstance(node, ast.Assert) else node
        if isinstance(call, ast.Call) and len(call.args) >= 2:
            fn = call.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
            if name == "assert_close" or (isinstance(node, ast.Assert) and name in CHECKS):
                yield call.args[0], call.args[1]


def teaching_checks(cells: list[str]) -> dict[str, bool]:
    """{teaching piece: whether a later cell checks it against the package}, for code cells' sources."""
    tags: dict[str, set[str]] = {}
    pieces: dict[str, int] = {}  # name -> index of the cell that defines it
    checked: set[str] = set()

    def of(node) -> set[str]:
        return set().union(*(tags.get(n, set()) for n in _names(node)))

    for i, src in enumerate(cells):
        tree = ast.parse(src)
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                for alias in node.names:
                    pkg = (module or alias.name).split(".")[0] == "mdn_helpers"
                    name = (alias.asname or alias.name).split(".")[0]
                    tags[name] = {"pkg"} if pkg else set()
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                pieces[node.name] = i  # a piece that calls other teaching code is checked with it
                tags[node.name] = {f"own:{node.name}"} | {t for t in of(node) if t.startswith("own:")}
            else:
                loop = [n for n in ast.walk(node) if isinstance(n, (ast.For, ast.While))]
                trains = any(
                    isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "backward"
                    for lp in loop
                    for c in ast.walk(lp)
                )
                for sub in ast.walk(node):  # assignments anywhere in the statement (loops, with)
                    if isinstance(sub, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and sub.value is not None:
                        targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                        for t in targets:
                            for name in _target_names(t):
                                tags[name] = of(sub.value) | (
                                    tags.get(name, set()) if isinstance(sub, ast.AugAssign) else set()
                                )
                    elif isinstance(sub, ast.For):
                        for name in _target_names(sub.target):
                            tags[name] = of(sub.iter)
                    elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
                        for name in _target_names(sub.optional_vars):
                            tags[name] = of(sub.context_expr)
                if trains:
                    piece = f"loop in cell {i}"
                    pieces[piece] = i
                    for sub in ast.walk(node):
                        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                            tags[sub.id] = tags.get(sub.id, set()) | {f"own:{piece}"}
        for a, b in _check_calls(tree):
            ta, tb = of(a), of(b)
            for mine, ref in ((ta, tb), (tb, ta)):
                if "pkg" in ref and not any(t.startswith("own:") for t in ref):
                    checked |= {t[4:] for t in mine if t.startswith("own:") and pieces.get(t[4:], i) < i}
    return {piece: piece in checked for piece in pieces}


def test_teaching_code_is_checked_against_the_package(nb):
    path, data = nb
    cells = [_code(c) for c in data["cells"] if c["cell_type"] == "code"]
    unchecked = [p for p, ok in teaching_checks(cells).items() if not ok]
    assert not unchecked, (
        f"{path.name}: {unchecked} defined in the notebook but never compared with its "
        "mdn_helpers counterpart by torch.testing.assert_close in a later cell"
    )


def test_the_teaching_rule_can_fail():
    head = "import torch\nfrom mdn_helpers import MDN\nfrom mdn_helpers.mixture import mixture_nll"
    own = "def nll(p, y):\n    return -y"
    ok = "torch.testing.assert_close(nll(p, y), mixture_nll(p, y))"
    assert teaching_checks([head, own, ok]) == {"nll": True}
    assert teaching_checks([head, own]) == {"nll": False}  # never checked
    assert teaching_checks([head, own, "torch.testing.assert_close(nll(p, y), nll(p, y))"]) == {"nll": False}
    assert teaching_checks([head, own, "torch.testing.assert_close(nll(p, y), torch.zeros(3))"]) == {"nll": False}
    assert teaching_checks([head, ok.replace("nll(p", "nll2(p"), own]) == {"nll": False}  # checked before defined
    ref = "r = mixture_nll(p, y)"
    assert teaching_checks([head, own, ref, "a = nll(p, y)", "assert torch.allclose(a, r)"]) == {"nll": True}
    loop = "net = MDN()\nfor i in range(3):\n    loss = net(x, y)\n    loss.backward()"
    pkg_loop = "from mdn_helpers import fit_mdn\nm, h = fit_mdn(x, y)"
    assert teaching_checks([head, loop, pkg_loop, "torch.testing.assert_close(loss, h['loss'])"]) == {
        "loop in cell 1": True
    }
    assert teaching_checks([head, loop]) == {"loop in cell 1": False}
    inner = "def step(p, y):\n    return nll(p, y)"  # checked through the piece that calls it
    assert teaching_checks([head, own, inner, ok.replace("(nll(p", "(step(p")]) == {"nll": True, "step": True}
    assert teaching_checks([head, own, inner, ok]) == {"nll": True, "step": False}


def test_images_are_png(nb):
    _, data = nb
    for cell in data["cells"]:
        for out in cell.get("outputs", []):
            kinds = set(out.get("data", {}))
            assert not kinds & {"image/svg+xml", "image/jpeg"}, kinds


# --- Saved outputs read well without a kernel ---------------------------------------------------
# No raw widget reprs ("VBox(children=(HBox(...") and no progress bars ("MDN:   0%|   | 0/3000")
# in a saved output: GitHub and `make html` show text/plain where there is no kernel.
RAW_OUTPUT = re.compile(r"^\s*\w*Box\(children=|\d+%\|.*\|\s*\d+/\d+")


def raw_outputs(data) -> list[tuple[str, str]]:
    """(start of the cell's source, the raw text) for each saved output that shows a widget
    repr or a progress bar."""
    found = []
    for cell in data["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            if RAW_OUTPUT.search(text):
                found.append(("".join(cell["source"]).lstrip(), text[:80]))
    return found


def test_saved_outputs_read_without_a_kernel(nb):
    path, data = nb
    bad = [(src[:60], text) for src, text in raw_outputs(data)]
    assert not bad, f"{path.name}: raw widget or progress-bar text in saved outputs: {bad}"


def test_raw_output_pattern_can_fail():
    assert RAW_OUTPUT.search("VBox(children=(HBox(children=(FloatSlider(value=0.0")
    assert RAW_OUTPUT.search("MDN:   0%|          | 0/3000 [00:00<?, ?it/s]")
    assert not RAW_OUTPUT.search("<Figure size 640x440 with 1 Axes>")
    assert not RAW_OUTPUT.search("held-out NLL 1.350 nats (gap 6%)")


def _asserts(src: str) -> bool:
    """Whether a cell's code asserts something: an `assert` statement or a torch.testing.assert_close call."""
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "assert_close":
            return True
    return False


def test_cells_kept_out_of_the_text_comparison_assert_what_they_claim(nb):
    """A cell tagged nbval-ignore-output (its printed numbers depend on a training trajectory, so on the
    CPU) must assert its claim in the same cell; only cells that print no text (a figure, a widget) may
    go without."""
    path, data = nb
    for cell in data["cells"]:
        if cell["cell_type"] != "code" or "nbval-ignore-output" not in cell.get("metadata", {}).get("tags", []):
            continue
        prints = any(o["output_type"] == "stream" for o in cell.get("outputs", []))
        head = _code(cell).strip().splitlines()[0]
        assert not prints or _asserts(_code(cell)), f"{path.name}: an ignored cell that prints must assert: {head}"


def test_the_ignored_cell_rule_can_fail():
    assert _asserts("x = 1\nassert x == 1") and _asserts("torch.testing.assert_close(a, b)")
    assert _asserts("from torch.testing import assert_close\nassert_close(a, b)")
    assert not _asserts("print(x)") and not _asserts("assert_closer = 1")
