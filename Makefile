# The two set-up commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

# `make run HOST=0.0.0.0 PORT=9000` passes --host/--port to `modelyard up`; without them it
# listens where its settings say (MODELYARD_HOST, MODELYARD_PORT; default 127.0.0.1:8080).
# Only the make command line counts: a HOST or PORT in the environment is not ours (zsh
# and tcsh set HOST to the machine's name).
cli_flag = $(if $(filter command line,$(origin $(1))),--$(2) $($(1)))

.PHONY: run test lint format bench examples clean

$(BIN)/activate:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

# The example models, endpoints and APIs, then the example training pipelines, at once
# (each model a training job; unchanged ones are skipped). A model that fails to train is
# reported and `up` still starts (the leading `-`): the other models are served.
PIPELINES := examples/factchecks/models_to_be_trained.json examples/ratings/models_to_be_trained.json

examples: $(VENV)/.installed
	$(BIN)/python examples/prepare.py --home .modelyard
	-$(BIN)/modelyard pipeline run $(PIPELINES) --home .modelyard

run: examples
	$(BIN)/modelyard up --home .modelyard $(strip $(call cli_flag,HOST,host) $(call cli_flag,PORT,port))

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/serving.py

clean:
	rm -rf $(VENV) .modelyard .pytest_cache
