# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MSISDN ?= 2250701020304
# The demo population is dated around November 2026: AT=2026-11-25T10:00 freezes the clock there.
AT ?=
CODE ?= \#122\#

.PHONY: run test check lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Dial #122# on the terminal handset as a demo subscriber (embedded defaults).
run: $(STAMP)
	$(BIN)/ussd dial '$(CODE)' --msisdn $(MSISDN) $(if $(AT),--at $(AT))

## Install and run every test (and check who imports whom: the [importlinter] contracts in setup.cfg).
test: $(STAMP)
	$(BIN)/ussd check
	$(BIN)/ussd transcript tests/transcripts
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest

## Who imports whom (import-linter), lint and import order (ruff), types (mypy --strict).
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy

check: $(STAMP)
	$(BIN)/ussd check
	$(BIN)/ussd transcript tests/transcripts

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/accounts.py
	$(BIN)/python bench/smpp.py
	$(BIN)/python bench/http.py
	$(BIN)/python bench/nodes.py

clean:
	rm -rf $(VENV) *.egg-info .hypothesis
