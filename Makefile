# kioskd — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint deps venv clean catalogues

deps:
	@sh tools/install-system-deps.sh

$(STAMP): setup.cfg pyproject.toml | deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[test,townhall]'
	@touch $(STAMP)

venv: deps $(STAMP) catalogues

# gettext: .po -> .mo with Babel (kioskd/i18n.py); part of every build
catalogues: $(STAMP)
	@$(PY) tools/i18n compile

# Opens the simulated kiosk in a window; without a display, runs the scripted tour
# headless, writes a screenshot per step and exits 0.
# Spoken prompts are generated first (espeak-ng, into var/demo/prompts; only missing ones, so reruns are quick).
demo: venv
	$(PY) tools/prompts --config config/sim.toml --data-dir var/demo
	$(PY) -m kioskd.demo --config config/sim.toml --data-dir var/demo

lint: venv
	$(VENV)/bin/ruff check kioskd townhall tests tools

test: venv
	$(VENV)/bin/ruff check kioskd townhall tests tools
	$(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) var build *.egg-info
