# Two entry points (see README): `make run` serves the shipped checkpoints, `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install data

# The Python client (clients/python) installs beside the service: the tests and `ebmm bench load` use it.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e 'clients/python[numpy]'
	touch $(STAMP)

install: $(STAMP)

# Local development: no API keys (the server logs a warning); anywhere else set EBMM_API_KEYS (README).
run: $(STAMP)
	EBMM_AUTH_DISABLED=true $(BIN)/ebmm serve

test: $(STAMP) data
	bash scripts/ensure-prometheus.sh
	bash scripts/ensure-kubectl.sh
	bash scripts/ensure-browser.sh
	bash scripts/ensure-wrk.sh
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# The 32×32 image sets (README "Image memories"), built into data/ from Debian packages once (a rebuild gives
# the same bytes); the shipped 32×32 checkpoints' tests read their held-out splits.
data: data/photos32/manifest.json data/glyphs32/manifest.json

data/%/manifest.json: | $(STAMP)
	bash scripts/ensure-image-data.sh
	$(BIN)/ebmm data build $*

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
