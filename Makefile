# Every target sets itself up: a .venv with the pinned packages, made once and
# remade when pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out
NBS    := notebooks/01_dataset.ipynb notebooks/02_mdn.ipynb notebooks/03_slogan.ipynb notebooks/04_diagnostics.ipynb \
          notebooks/05_real_data.ipynb

.PHONY: setup test lab mdn slogan explorer html bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## Debian's Chromium for the browser test (Playwright's own download does not
## work offline); installed when missing and we are root with apt, else the
## browser test is skipped with its reason.
chromium:
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "note: /usr/bin/chromium not installed; tests/test_browser.py will be skipped"

## The tests: unit tests, the browser test, then the notebooks re-executed by nbval (strict).
test: $(STAMP) chromium
	$(PY) -m pytest tests $(wildcard $(NBS)) --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=300

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
	rm -rf build $(OUT) .pytest_cache
