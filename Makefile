# Patron — `make run` starts the demo server, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# The console's gettext catalogs: edit the .po files, `make messages-compile` writes the .mo files.
LOCALE_DIR := src/patron/console/locale
POT := var/messages.pot
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(LOCALE_DIR)/*/LC_MESSAGES/messages.po))
# t("id"), redirect(url, "flash.id") and ErrorPage(status, "error.id") name message ids too.
EXTRACT_KEYWORDS := -k t -k redirect:2 -k ErrorPage:2

# The benchmarks; bench/_*.py (shared parts, data generators) and the webhooks bench's receiver and worker are their parts.
BENCHES := $(filter-out bench/_%.py bench/webhook_consumer.py bench/webhook_receiver.py,$(wildcard bench/*.py))

.PHONY: run test lint format bench clean messages-extract messages-update messages-compile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed messages-compile
	$(BIN)/patron db upgrade
	$(BIN)/patron demo --if-empty
	$(BIN)/patron serve --host 127.0.0.1 --port 8000

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint messages-compile
	$(BIN)/pytest $(PYTEST_ARGS)

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(VENV)/.dev-installed
	for script in $(BENCHES); do $(BIN)/python $$script || exit 1; done

messages-extract: $(VENV)/.installed
	mkdir -p $(dir $(POT))
	$(BIN)/pybabel extract -F babel.cfg $(EXTRACT_KEYWORDS) --add-location=file --sort-output \
		--no-wrap --project=Patron -o $(POT) .

messages-update: messages-extract
	$(BIN)/pybabel update -i $(POT) -d $(LOCALE_DIR) --no-fuzzy-matching --no-wrap

messages-compile: $(MO_FILES)

$(LOCALE_DIR)/%/LC_MESSAGES/messages.mo: $(LOCALE_DIR)/%/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(BIN)/pybabel compile -l $* -i $< -o $@

clean:
	rm -rf $(VENV) var
