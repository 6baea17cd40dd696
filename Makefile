# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run serve serve-restart test install install-test lint format bench fuzz messages clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## Set everything up and start web + sockets (daphne), worker and beat on embedded defaults.
run: install
	$(PY) scripts/run_platform.py --host $(HOST) --port $(PORT)

## The production shape: WEB_PROCESSES web processes (default: one per core) behind
## HAProxy (installed from Debian when missing and root), worker and beat; DEMO=1 loads
## the demo data. Ctrl-C stops all of them; `make serve-restart` restarts them one by one.
serve: install
	WEB_PROCESSES=$(WEB_PROCESSES) DEMO=$(DEMO) $(PY) scripts/serve.py --host $(HOST) --port $(PORT)

serve-restart: install
	$(PY) scripts/serve.py restart

## Install what the tests need (Python packages, Chromium, PostgreSQL binaries, HAProxy) and run the whole suite.
test: install-test
	$(PY) scripts/ensure_chromium.py
	$(PY) scripts/shape.py
	$(PY) -m pytest $(PYTEST_ARGS)

## The injected-fault tests (tests/faults: a Celery worker killed mid-work, Redis and
## PostgreSQL restarted under load) at FAULTS_SCALE times the volumes `make test` and CI
## use; prints the figures for docs/security.md (faults injected, items sent, lost, doubled).
FAULTS_SCALE ?= 5
.PHONY: faults
faults: install-test
	FAULTS_SCALE=$(FAULTS_SCALE) $(PY) -m pytest -p no:cacheprovider -s -q -m faults tests/faults $(PYTEST_ARGS)

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-test
	$(PY) bench/run_all.py

## The long fuzzing run (tests/fuzz with many more examples than CI's); prints the figures
## for docs/security.md: operations, cases and failures, socket frames tried.
FUZZ_EXAMPLES ?= 300
FUZZ_SOCKET_EXAMPLES ?= 500
fuzz: install-test
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SOCKET_EXAMPLES=$(FUZZ_SOCKET_EXAMPLES) \
		$(PY) -m pytest -p no:cacheprovider -s -q tests/fuzz $(PYTEST_ARGS)

## Re-extract the strings (needs GNU gettext's xgettext), fill them from
## locale/zh_hans.py and compile the .mo (committed, so running needs no gettext).
messages: install-test
	$(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var --ignore=bench --ignore=tests
	$(PY) scripts/translate.py

clean:
	rm -rf $(VENV) var
