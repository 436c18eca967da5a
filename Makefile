# A new user runs these from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# make run: the server evaluates the signal rules every 10 minutes
SIGNALS_EVERY ?= 600

.PHONY: install run test lint bench clean

install: $(STAMP)

# The CPU PyTorch wheel goes in first: otherwise sentence-transformers pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# Builds the demo company (once; re-running is quick), then serves the API, the channel
# endpoints and the web chat, printing login links for a rep and a manager.
run: install
	$(BIN)/repcopilot init --demo
	REPCOPILOT_SIGNALS_INTERVAL_S=$(SIGNALS_EVERY) $(BIN)/repcopilot serve --login zhangwei --login chenjing

test: install
	$(BIN)/python -m pytest

# The committed rule set (pyproject [tool.ruff]) and the rooms' import contracts ([tool.importlinter]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/repcopilot bench

clean:
	rm -rf $(VENV) var
