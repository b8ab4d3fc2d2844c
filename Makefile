# Every target sets itself up: a .venv with the pinned packages, made once and
# remade when pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out
NBS    := notebooks/01_dataset.ipynb notebooks/02_mdn.ipynb notebooks/03_slogan.ipynb

.PHONY: setup test lab mdn slogan html bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## The tests: unit tests, then the notebooks re-executed by nbval (strict).
test: $(STAMP)
	$(PY) -m pytest tests $(wildcard $(NBS)) --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=300

## The main job: JupyterLab on the notebooks.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

## Headless: train with the default recipe, write a checkpoint and figures to $(OUT)/.
mdn: $(STAMP)
	$(PY) -m mdn_helpers mdn --out $(OUT)

slogan: $(STAMP)
	$(PY) -m mdn_helpers slogan --out $(OUT)

## The notebooks as static HTML (with their committed outputs) under build/.
html: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to html --output-dir build $(NBS)

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf build $(OUT) .pytest_cache
