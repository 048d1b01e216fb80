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

# Runs the reference town-hall server (`townhall serve` on 127.0.0.1, port 8470 or any free one; demo data and a
# console login with a new random password, printed) beside the simulated kiosk, enrolled there and syncing.
# With a display: the kiosk in a window; Ctrl-C, SIGTERM or closing the window stops both.
# Without one: the scripted tour headless (a reservation goes console -> kiosk -> collected -> console on the way),
# a screenshot per step into screenshots/tour, the server stopped, exit 0. `--no-townhall` runs the kiosk alone.
# Spoken prompts are generated first (espeak-ng, into var/demo/prompts; only missing ones, so reruns are quick).
demo: venv
	$(PY) tools/prompts --config config/sim.toml --data-dir var/demo
	$(PY) -m kioskd.demo --config config/sim.toml --data-dir var/demo

lint: venv
	$(VENV)/bin/ruff check kioskd townhall tests tools

test: venv
	$(VENV)/bin/ruff check kioskd townhall tests tools
	$(PY) -m pytest -q -rs -p no:cacheprovider

clean:
	rm -rf $(VENV) var build *.egg-info
