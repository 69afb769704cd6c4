# The two commands a new user needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot.local

test: $(STAMP) chromium
	$(BIN)/ruff check bot handlers messages workers tests
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Debian's chromium for the browser tests (tests/test_browser.py), where apt-get can install
# it; without it those tests are skipped, saying why.
chromium:
	@command -v chromium >/dev/null 2>&1 \
	  || apt-get install -y -q chromium >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) \
	  || echo "note: chromium could not be installed; the browser tests will be skipped"

bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get install -y wrk || (apt-get update && apt-get install -y wrk))
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var
