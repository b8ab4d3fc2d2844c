# Every target sets itself up: a .venv with the locked packages (constraints.txt), made once and
# remade when pyproject.toml or the lock changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out
# The chapters, in order: the one list that the Makefile and the tests read.
NBS    := $(addprefix notebooks/,$(shell cat notebooks/chapters.txt))
# The notebooks are recorded under this machine's own CPU capability (`make record`) and tested
# under another one, the plain kernels every x86-64 CPU has: an output that only one instruction
# set reproduces fails here, not on a reader's machine. On other CPUs torch ignores the variable.
NB_CAPABILITY ?= default
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=300

.PHONY: setup test test-fast lint format typecheck record lab mdn slogan explorer html bench clean chromium

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[notebooks,test,dev]'
	touch $(STAMP)

setup: $(STAMP)

## Lint and format (check only; `make format` fixes), types.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

## Debian's Chromium for the browser test (Playwright's own download does not
## work offline); installed when missing and we are root with apt. Where it
## cannot be, the browser test is skipped with its reason, except on CI (CI set,
## e.g. CI=true), where this target fails, as the browser test would.
## CHROMIUM is where tests/test_browser.py looks; override it only to test this target.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@[ -x $(CHROMIUM) ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && \
		[ -x $(CHROMIUM) ]; } || \
	case "$${CI:-}" in \
		""|0|false|False|FALSE|no|No|NO) \
			echo "note: $(CHROMIUM) not installed; tests/test_browser.py will be skipped";; \
		*) echo "error: CI=$$CI: $(CHROMIUM) is not installed and could not be (needs root and apt-get:" \
			"apt-get install chromium); the browser tests must run on CI" >&2; exit 1;; \
	esac

## The edit-test loop: unit tests without training runs, the browser and the notebooks.
test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow and not browser" -q

## Everything, as CI runs it: lint, types, unit tests, the browser test, then the notebooks
## re-executed by nbval (strict) under NB_CAPABILITY.
test: lint typecheck chromium
	ATEN_CPU_CAPABILITY=$(NB_CAPABILITY) $(PY) -m pytest tests $(NBS) $(NBVAL)

## Re-execute every notebook in place under this machine's own CPU capability, saving its outputs.
record: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=600 $(NBS)

## The main job: JupyterLab on the notebooks.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

## Headless: train with the default recipe, write a checkpoint and figures to $(OUT)/.
mdn: $(STAMP)
	$(PY) -m mdn_helpers mdn --out $(OUT)

slogan: $(STAMP)
	$(PY) -m mdn_helpers slogan --out $(OUT)

## The stand-alone bias explorer (no kernel, no network): trains the default
## MDN and writes $(DOCS)/bias_explorer.html, the copy committed under docs/.
DOCS ?= docs
explorer: $(STAMP)
	$(PY) -m mdn_helpers explorer --out $(DOCS)

## The notebooks as static HTML (with their committed outputs) under build/.
html: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to html --output-dir build $(NBS)

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf build $(OUT) .pytest_cache .mypy_cache .ruff_cache
