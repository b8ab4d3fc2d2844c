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
#  * teaching code: a `def` or `class` at module level, a top-level `name = lambda ...`, or a
#    `for`/`while` loop that calls .backward() or torch.autograd.grad;
#  * every name is traced to where its value came from: "own:<name>" for teaching code (and
#    anything computed from it), "pkg" for what is imported from mdn_helpers (and anything
#    computed from that); not through what keeps only a tensor's metadata (.shape, len(),
#    .numel(), ...), a constant made like a tensor (zeros_like), `a - a`, or a product with a
#    literal of size at most 1e-3 (0 included), which would hide any difference;
#  * a check is a top-level statement (or one in a top-level `with torch.no_grad():`) of a cell
#    that nbval runs and fails on an error: torch.testing.assert_close(a, b) or
#    numpy.testing.assert_allclose(a, b), or `assert torch.equal(a, b)` / `assert torch.allclose(a, b)`,
#    with the default tolerances or stated ones of at most 1e-3 (torch's own default rtol for
#    float16; the notebooks state at most 1e-4). Dead code (`if False:`), a function's body or a
#    `try:` that catches the AssertionError is not the top level;
#  * each piece of teaching code needs a check in a later cell where one side derives from it
#    and the other from the package and from no teaching code, and nothing after its definition
#    may rebind its name or assign to its attributes (so the check is of the code that is used).
# So a function compared with itself, with a constant, with other notebook code, by its shape or
# within a huge tolerance fails, and nbval then runs the comparison.

CHECK_STATEMENTS = {"torch.testing.assert_close", "numpy.testing.assert_allclose"}
CHECK_PREDICATES = {"torch.equal", "torch.allclose", "numpy.allclose", "numpy.array_equal"}  # under `assert`
NO_GRAD = {"torch.no_grad", "torch.inference_mode"}
TRAINS = {"torch.autograd.grad", "torch.autograd.backward"}  # and any .backward()
MAX_TOL = 1e-3
METADATA = {"shape", "dtype", "ndim", "device", "layout", "size", "numel", "nelement", "dim", "ndimension", "stride"}
METADATA_FUNCS = {"len", "type", "isinstance", "id"}
LIKE = {"zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randint_like"}
SCALE = {"mul", "mul_", "multiply"}
NBVAL_UNRUN_TAGS = {"nbval-skip", "nbval-raises-exception", "raises-exception"}
NBVAL_UNRUN_MARKERS = {"NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION"}


def _code(cell) -> str:
    """A cell's source without IPython magics and shell lines."""
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in "".join(cell["source"]).splitlines())


def _unrun(cell) -> bool:
    """Whether a failing check in the cell fails nothing: nbval skips it or expects it to raise, or a
    cell magic (%%script false, ...) runs its body as something else than the kernel's Python."""
    src = "".join(cell["source"])
    markers = {ln.strip().lstrip("#").strip() for ln in src.splitlines() if ln.strip().startswith("#")}
    tags = set(cell.get("metadata", {}).get("tags", []))
    return bool(tags & NBVAL_UNRUN_TAGS or markers & NBVAL_UNRUN_MARKERS) or src.lstrip().startswith("%%")


def _number(node) -> float | None:
    """The value of a numeric literal (0, -1e-3, False), else None."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _tiny(node) -> bool:
    value = _number(node)
    return value is not None and abs(value) <= MAX_TOL


def _huge(node) -> bool:
    value = _number(node)
    return value is not None and abs(value) >= 1 / MAX_TOL


def _value_names(node) -> set[str]:
    """The names whose values the value of `node` depends on, not counting the ways around a value
    listed above (metadata, zeros_like, a - a, a tiny factor)."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute) and node.attr in METADATA:
        return set()
    if isinstance(node, ast.Call):
        fn = node.func
        if isinstance(fn, ast.Attribute) and fn.attr in METADATA:  # x.size(), torch.numel(x), np.shape(x)
            return set()
        if isinstance(fn, ast.Name) and fn.id in METADATA_FUNCS:
            return set()
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
        if name in LIKE:  # only full_like's fill value counts
            return set().union(*map(_value_names, node.args[1:]), *(_value_names(k.value) for k in node.keywords))
        if name in SCALE and any(map(_tiny, node.args)):
            return set()
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Mult) and (_tiny(node.left) or _tiny(node.right)):
            return set()
        if isinstance(node.op, ast.Div) and (_huge(node.right) or _number(node.left) == 0):
            return set()
        if isinstance(node.op, ast.Pow) and _number(node.right) == 0:
            return set()
        same = ast.dump(node.left) == ast.dump(node.right)
        if same and isinstance(node.op, (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod)):  # a - a: 0, a / a: 1
            return set()
    return set().union(*map(_value_names, ast.iter_child_nodes(node)))


SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _module_scope(node):
    """`node` and what it holds at module scope: not the insides of a def, class, lambda or comprehension."""
    yield node
    if not isinstance(node, SCOPES):
        for child in ast.iter_child_nodes(node):
            yield from _module_scope(child)


def _bindings(stmt) -> tuple[set[str], set[str], list[ast.Attribute]]:
    """What a module-level statement changes: the names it (re)binds, the names whose attributes or
    items it assigns (f.x = ..., d[k] = ...), and the attribute targets themselves."""
    names: set[str] = set()
    roots: set[str] = set()
    attributes = []
    for n in _module_scope(stmt):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)  # and what it declares `global` and assigns when called
            names |= {name for g in ast.walk(n) if isinstance(g, ast.Global) for name in g.names}
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names}
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.Attribute, ast.Subscript)) and isinstance(n.ctx, (ast.Store, ast.Del)):
            root = n
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name):
                roots.add(root.id)
            if isinstance(n, ast.Attribute):
                attributes.append(n)
    return names, roots, attributes


def teaching_checks(cells: list[str], unrun=()) -> dict[str, bool]:
    """{teaching piece: whether a later cell checks it against the package}, for code cells' sources;
    a check in a cell whose index is in `unrun` (see _unrun) does not count."""
    tags: dict[str, set[str]] = {}
    qual: dict[str, str] = {}  # name -> the dotted name of the module or function bound to it
    patched: set[str] = set()  # dotted names assigned to: torch.testing.assert_close = ...
    pieces: dict[str, int] = {}  # piece -> index of the cell that defines it
    checked: set[str] = set()
    redefined: set[str] = set()

    def of(node) -> set[str]:
        return set().union(*(tags.get(n, set()) for n in _value_names(node)))

    def resolve(node) -> str | None:
        if isinstance(node, ast.Name):
            return qual.get(node.id)
        if isinstance(node, ast.Attribute) and (base := resolve(node.value)):
            return f"{base}.{node.attr}"
        return None

    def calls(node, names) -> bool:
        name = resolve(node.func) if isinstance(node, ast.Call) else None
        return name in names and not any(name == p or name.startswith(p + ".") for p in patched)

    def compared(node):
        """The two sides of a check that counts, or None."""
        if isinstance(node, ast.Expr) and calls(node.value, CHECK_STATEMENTS):
            call = node.value
        elif isinstance(node, ast.Assert) and calls(node.test, CHECK_PREDICATES):
            call = node.test
        else:
            return None
        if len(call.args) != 2 or any(isinstance(a, ast.Starred) for a in call.args):
            return None  # a third positional argument is a tolerance (allclose, assert_allclose)
        for kw in call.keywords:
            if kw.arg is None:
                return None  # **options: tolerances not stated
            if kw.arg in ("rtol", "atol") and not (_tiny(kw.value) and _number(kw.value) >= 0):
                return None
        return call.args

    def define(piece, node, i):
        pieces[piece] = i  # a piece that calls other teaching code is checked with it
        tags[piece] = {f"own:{piece}"} | {t for t in of(node) if t.startswith("own:")}

    def statement(node, i):
        if isinstance(node, (ast.With, ast.AsyncWith)) and all(
            calls(item.context_expr, NO_GRAD) and item.optional_vars is None for item in node.items
        ):  # with torch.no_grad(): its body runs as top-level statements
            for sub in node.body:
                statement(sub, i)
            return
        names, roots, attributes = _bindings(node)
        redefined.update((names | roots) & pieces.keys())
        patched.update(filter(None, map(resolve, attributes)))
        for name in names:
            qual.pop(name, None)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                pkg = (module or alias.name).split(".")[0] == "mdn_helpers"
                name = (alias.asname or alias.name).split(".")[0]
                tags[name] = {"pkg"} if pkg else set()
                if isinstance(node, ast.Import):
                    qual[name] = alias.name if alias.asname else name
                elif node.level == 0:
                    qual[name] = f"{module}.{alias.name}"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            define(node.name, node, i)
        elif lambdas := _lambda_names(node):
            for name in lambdas:
                define(name, node.value, i)
        else:
            inside = list(_module_scope(node))
            for sub in inside:  # defs in an `if`, a `with`, ...; assignments anywhere in the statement
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    define(sub.name, sub, i)
                elif isinstance(sub, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and sub.value is not None:
                    value = of(sub.value)
                    for t in sub.targets if isinstance(sub, ast.Assign) else [sub.target]:
                        for name in _stored(t):  # a = ..., a, b = ...: a new value (a += ...: a changed one)
                            tags[name] = value | (tags.get(name, set()) if isinstance(sub, ast.AugAssign) else set())
                        if root := _root(t):  # a.x = ..., a[i] = ...: a changed
                            tags[root] = tags.get(root, set()) | value
                elif isinstance(sub, (ast.For, ast.AsyncFor)):
                    for name in _stored(sub.target):
                        tags[name] = of(sub.iter)
                elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
                    for name in _stored(sub.optional_vars):
                        tags[name] = of(sub.context_expr)
            alias = resolve(node.value) if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            if alias and isinstance(node.targets[0], ast.Name):  # close = np.testing.assert_allclose
                qual[node.targets[0].id] = alias
            loops = [n for n in inside if isinstance(n, (ast.For, ast.AsyncFor, ast.While))]
            trains = any(
                isinstance(c, ast.Call)
                and ((isinstance(c.func, ast.Attribute) and c.func.attr == "backward") or calls(c, TRAINS))
                for lp in loops
                for c in ast.walk(lp)
            )
            if trains:
                piece = f"loop in cell {i}"
                pieces[piece] = i
                for sub in inside:
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                        tags[sub.id] = tags.get(sub.id, set()) | {f"own:{piece}"}
        if i not in unrun and (sides := compared(node)):
            ta, tb = map(of, sides)
            for mine, ref in ((ta, tb), (tb, ta)):
                if "pkg" in ref and not any(t.startswith("own:") for t in ref):
                    checked.update(t[4:] for t in mine if t.startswith("own:") and pieces.get(t[4:], i) < i)

    for i, src in enumerate(cells):
        for node in ast.parse(src).body:
            statement(node, i)
    return {piece: piece in checked and piece not in redefined for piece in pieces}


def _lambda_names(node) -> list[str]:
    """The names a top-level `name = lambda ...` (or `a = b = lambda ...`) binds, else []."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or not isinstance(node.value, ast.Lambda):
        return []
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets] if all(isinstance(t, ast.Name) for t in targets) else []


def _root(target) -> str | None:
    """`a` for an assignment to a.x, a[i] or a.x[i].y; else None."""
    if not isinstance(target, (ast.Attribute, ast.Subscript)):
        return None
    while isinstance(target, (ast.Attribute, ast.Subscript)):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _stored(target) -> set[str]:
    """The names an assignment target binds: a, (a, b), *a; not a.x or d[k]."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*map(_stored, target.elts))
    if isinstance(target, ast.Starred):
        return _stored(target.value)
    return set()


# Helpers the notebooks write as top-level lambdas that have no mdn_helpers counterpart to be
# compared with (so they fail the rule above): listed one by one, each with why, until they move
# into mdn_helpers, get a check against it, or are written out where they are used.
UNCHECKED_HELPERS = {
    "03_slogan.ipynb": {
        "mean_within": "the i = j terms between scipy's energy distance and the package's (its cell checks the "
        "package against scipy with it)",
    },
    "05_real_data.ipynb": {
        "slope": "np.polyfit's slope",
        "rejected": "the share of simulated scorecards whose PIT KS p-value is below 0.05",
        "cover80": "a quantile of simulated scorecards' 80 % coverage",
        "pairs": "the adjusted Rand index (with expected, ari_of); checked against the pair counts, not the package",
        "expected": "the adjusted Rand index",
        "ari_of": "the adjusted Rand index",
    },
}


def test_teaching_code_is_checked_against_the_package(nb):
    path, data = nb
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    unrun = {i for i, c in enumerate(code) if _unrun(c)}
    unchecked = {p for p, ok in teaching_checks([_code(c) for c in code], unrun).items() if not ok}
    listed = set(UNCHECKED_HELPERS.get(path.name, {}))
    assert not unchecked - listed, (
        f"{path.name}: {sorted(unchecked - listed)} defined in the notebook but never compared with its "
        "mdn_helpers counterpart by torch.testing.assert_close in a later cell (see the rule above)"
    )
    assert not listed - unchecked, f"{path.name}: {sorted(listed - unchecked)} no longer unchecked helpers: unlist them"


def test_the_teaching_rule_can_fail():
    head = "import torch\nfrom mdn_helpers import MDN\nfrom mdn_helpers.mixture import Mixture"
    own = "def nll(p, y):\n    return -y"
    ok = "torch.testing.assert_close(nll(p, y), Mixture.nll(p, y))"
    assert teaching_checks([head, own, ok]) == {"nll": True}
    assert teaching_checks([head, own]) == {"nll": False}  # never checked
    assert teaching_checks([head, own, "torch.testing.assert_close(nll(p, y), nll(p, y))"]) == {"nll": False}
    assert teaching_checks([head, own, "torch.testing.assert_close(nll(p, y), torch.zeros(3))"]) == {"nll": False}
    assert teaching_checks([head, ok.replace("nll(p", "nll2(p"), own]) == {"nll": False}  # checked before defined
    ref = "r = Mixture.nll(p, y)"
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


# Each way round the rule, on a notebook that passes it without that (SOUND["plain"]): the piece
# (`nll`, a lambda or a loop) must come out unchecked.
HEAD = (
    "import torch\nimport numpy as np\nfrom mdn_helpers import MDN, fit_mdn\n"
    + "from mdn_helpers.mixture import Mixture"
)
OWN = "def nll(p, y):\n    return -y"
OK = "torch.testing.assert_close(nll(p, y), Mixture.nll(p, y))"
LAMBDA = "nll = lambda p, y: -y"
GRAD_LOOP = "net = MDN()\nfor i in range(3):\n    loss = net(x, y)\n    (g,) = torch.autograd.grad(loss, net.mu)"
PKG_LOOP = "m, h = fit_mdn(x, y)"
LOOP_OK = "torch.testing.assert_close(loss, h['loss'])"
VACUOUS = {
    # not a top-level statement: may never run, or its failure is caught
    "dead code": ([HEAD, OWN, f"if False:\n    {OK}"], "nll"),
    "a function never called": ([HEAD, OWN, f"def check():\n    {OK}"], "nll"),
    "a lambda never called": ([HEAD, OWN, f"check = lambda: {OK}"], "nll"),
    "try, except AssertionError": ([HEAD, OWN, f"try:\n    {OK}\nexcept AssertionError:\n    pass"], "nll"),
    "try, except Exception": ([HEAD, OWN, f"try:\n    {OK}\nexcept Exception:\n    print('close enough')"], "nll"),
    "with contextlib.suppress": (
        [HEAD, OWN, f"import contextlib\nwith contextlib.suppress(AssertionError):\n    {OK}"],
        "nll",
    ),
    "a loop that may not run": ([HEAD, OWN, f"for _ in []:\n    {OK}"], "nll"),
    "allclose not asserted": ([HEAD, OWN, "torch.allclose(nll(p, y), Mixture.nll(p, y))"], "nll"),
    "an assert that always holds": ([HEAD, OWN, "assert torch.allclose(nll(p, y), Mixture.nll(p, y)) or True"], "nll"),
    # huge or unstated tolerances
    "atol=1e30": ([HEAD, OWN, OK[:-1] + ", rtol=0, atol=1e30)"], "nll"),
    "rtol=1e9": ([HEAD, OWN, OK[:-1] + ", rtol=1e9, atol=0)"], "nll"),
    "atol just over the bound": ([HEAD, OWN, OK[:-1] + ", rtol=0, atol=2e-3)"], "nll"),
    "atol=inf": ([HEAD, OWN, OK[:-1] + ", rtol=0, atol=float('inf'))"], "nll"),
    "a tolerance in a variable": ([HEAD, OWN, "tol = 1e30", OK[:-1] + ", rtol=tol, atol=tol)"], "nll"),
    "tolerances in **options": ([HEAD, OWN, "opts = dict(rtol=1e9, atol=1e9)", OK[:-1] + ", **opts)"], "nll"),
    "positional tolerances": ([HEAD, OWN, "assert torch.allclose(nll(p, y), Mixture.nll(p, y), 1e9, 1e9)"], "nll"),
    "numpy's positional rtol": ([HEAD, OWN, "np.testing.assert_allclose(nll(p, y), Mixture.nll(p, y), 1e9)"], "nll"),
    # metadata instead of values
    ".shape": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y).shape, Mixture.nll(p, y).shape)"], "nll"),
    "len()": ([HEAD, OWN, "torch.testing.assert_close(len(nll(p, y)), len(Mixture.nll(p, y)))"], "nll"),
    ".dtype": ([HEAD, OWN, "assert torch.equal(nll(p, y).dtype, Mixture.nll(p, y).dtype)"], "nll"),
    ".size()": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y).size(0), Mixture.nll(p, y).size(0))"], "nll"),
    ".numel()": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y).numel(), Mixture.nll(p, y).numel())"], "nll"),
    "the shape on one side": (
        [HEAD, OWN, "torch.testing.assert_close(torch.tensor(nll(p, y).shape), Mixture.nll(p, y))"],
        "nll",
    ),
    "the shape through a variable": (
        [HEAD, OWN, "a = nll(p, y).shape", "torch.testing.assert_close(a, Mixture.nll(p, y).shape)"],
        "nll",
    ),
    # both sides made constant
    "* 0": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y) * 0, Mixture.nll(p, y) * 0)"], "nll"),
    "0.0 *": ([HEAD, OWN, "torch.testing.assert_close(0.0 * nll(p, y), 0 * Mixture.nll(p, y))"], "nll"),
    "* -0.0 on one side": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y) * -0.0, Mixture.nll(p, y))"], "nll"),
    "* 0 through a variable": (
        [HEAD, OWN, "a = nll(p, y) * 0", "torch.testing.assert_close(a, Mixture.nll(p, y) * 0)"],
        "nll",
    ),
    ".mul(0)": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y).mul(0), Mixture.nll(p, y).mul(0))"], "nll"),
    "* 1e-30": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y) * 1e-30, Mixture.nll(p, y) * 1e-30)"], "nll"),
    "/ 1e30": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y) / 1e30, Mixture.nll(p, y) / 1e30)"], "nll"),
    "** 0": ([HEAD, OWN, "torch.testing.assert_close(nll(p, y) ** 0, Mixture.nll(p, y) ** 0)"], "nll"),
    "a - a": (
        [HEAD, OWN, "torch.testing.assert_close(nll(p, y) - nll(p, y), Mixture.nll(p, y) - Mixture.nll(p, y))"],
        "nll",
    ),
    "zeros_like": (
        [HEAD, OWN, "assert torch.equal(torch.zeros_like(nll(p, y)), torch.zeros_like(Mixture.nll(p, y)))"],
        "nll",
    ),
    # the piece changed after its check
    "a later def": ([HEAD, OWN, OK, "def nll(p, y):\n    return y"], "nll"),
    "a later reassignment": ([HEAD, OWN, OK, "nll = abs"], "nll"),
    "a later lambda": ([HEAD, OWN, OK, "nll = lambda p, y: y"], "nll"),
    "reassigned in the check's cell": ([HEAD, OWN, OK + "\nnll = abs"], "nll"),
    "reassigned in a later loop": ([HEAD, OWN, OK, "for nll in [abs]:\n    pass"], "nll"),
    "imported over": ([HEAD, OWN, OK, "from math import fabs as nll"], "nll"),
    "reassigned through global": ([HEAD, OWN, OK, "def swap():\n    global nll\n    nll = abs"], "nll"),
    "a method patched": (
        [HEAD, "class Net(MDN):\n    pass", "torch.testing.assert_close(Net()(x), MDN()(x))", "Net.forward = abs"],
        "Net",
    ),
    # the check function is not torch's or numpy's
    "an own assert_close": (
        [HEAD, OWN, "def assert_close(a, b):\n    pass", "assert_close(nll(p, y), Mixture.nll(p, y))"],
        "nll",
    ),
    "assert_close rebound": (
        [
            HEAD,
            OWN,
            "from torch.testing import assert_close",
            "assert_close = print",
            "assert_close(nll(p, y), Mixture.nll(p, y))",
        ],
        "nll",
    ),
    "torch's assert_close patched": ([HEAD, OWN, "torch.testing.assert_close = print", OK], "nll"),
    # the order of statements in the check's cell
    "the side reassigned after the check": (
        [HEAD, OWN, "a = Mixture.nll(p, y)\ntorch.testing.assert_close(a, Mixture.nll(p, y))\na = nll(p, y)"],
        "nll",
    ),
    # the new kinds of piece, unchecked
    "a lambda": ([HEAD, LAMBDA], "nll"),
    "a lambda compared with itself": ([HEAD, LAMBDA, "torch.testing.assert_close(nll(p, y), nll(p, y))"], "nll"),
    "a def inside an if": ([HEAD, "if True:\n    def nll(p, y):\n        return -y"], "nll"),
    "a loop calling autograd.grad": ([HEAD, GRAD_LOOP], "loop in cell 1"),
    "a loop calling an imported grad": (
        [HEAD, "from torch.autograd import grad", GRAD_LOOP.replace("torch.autograd.grad", "grad")],
        "loop in cell 2",
    ),
    "an autograd.grad loop checked in its own cell": ([HEAD, PKG_LOOP, GRAD_LOOP + "\n" + LOOP_OK], "loop in cell 2"),
}
SOUND = {
    "plain": ([HEAD, OWN, OK], "nll"),
    "in with torch.no_grad()": (
        [HEAD, OWN, f"with torch.no_grad():\n    a = nll(p, y)\n    {OK.replace('nll(p, y),', 'a,')}"],
        "nll",
    ),
    "stated small tolerances": ([HEAD, OWN, OK[:-1] + ", rtol=1e-4, atol=0.0)"], "nll"),
    "atol at the bound": ([HEAD, OWN, OK[:-1] + ", rtol=0, atol=1e-3)"], "nll"),
    "numpy's, aliased": ([HEAD, OWN, "close = np.testing.assert_allclose\nclose(nll(p, y), Mixture.nll(p, y))"], "nll"),
    "assert_close imported as": (
        [HEAD, OWN, "from torch.testing import assert_close as same", "same(Mixture.nll(p, y), nll(p, y))"],
        "nll",
    ),
    "values transformed alike": (
        [HEAD, OWN, "torch.testing.assert_close(2 * nll(p, y).double()[:, 0], 2 * Mixture.nll(p, y).double()[:, 0])"],
        "nll",
    ),
    "another name reassigned": ([HEAD, OWN, OK, "p = 3\nx.shape = (3,)"], "nll"),
    "torch's settings changed": ([HEAD, "torch.backends.cudnn.deterministic = True", OWN, OK], "nll"),
    "a lambda": ([HEAD, LAMBDA, OK], "nll"),
    "a loop calling autograd.grad": ([HEAD, GRAD_LOOP, PKG_LOOP, LOOP_OK], "loop in cell 1"),
}


@pytest.mark.parametrize(("cells", "piece"), VACUOUS.values(), ids=VACUOUS.keys())
def test_the_teaching_rule_is_not_met_vacuously(cells, piece):
    assert teaching_checks(cells)[piece] is False


@pytest.mark.parametrize(("cells", "piece"), SOUND.values(), ids=SOUND.keys())
def test_the_teaching_rule_is_met_by_a_sound_check(cells, piece):
    assert teaching_checks(cells)[piece] is True


def test_checks_in_cells_nbval_does_not_fail_do_not_count():
    def cell(src, *tags):
        return {"cell_type": "code", "source": src, "metadata": {"tags": list(tags)}}

    for unrun in ({2}, {0, 2}):
        assert teaching_checks([HEAD, OWN, OK], unrun) == {"nll": False}
    assert teaching_checks([HEAD, OWN, OK], {0, 1}) == {"nll": True}
    for c in (cell(OK, "nbval-skip"), cell(OK, "raises-exception"), cell(OK, "nbval-raises-exception")):
        assert _unrun(c)
    assert _unrun(cell("# NBVAL_SKIP\n" + OK)) and _unrun(cell("# NBVAL_RAISES_EXCEPTION\n" + OK))
    assert _unrun(cell("%%script false --no-raise-error\n" + OK))
    assert not _unrun(cell(OK)) and not _unrun(cell(OK, "nbval-ignore-output", "parameters"))
    assert not _unrun(cell("%matplotlib inline\n" + OK))


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
