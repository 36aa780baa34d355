# Patina: the two commands in README.md are `make run` and `make test`.
# Each creates the virtual environment on first use (torch's pinned CPU wheel first).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.patina-installed
IMAGE  ?= resources/samples/chelsea.png

.PHONY: run test lint setup clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,cluster]"
	touch $(STAMP)

run: $(STAMP)
	packaging/qt-system-libs.sh --window
	$(VENV)/bin/patina $(IMAGE)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen PYTHONFAULTHANDLER=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check app tests tools
	$(VENV)/bin/ruff format --check app tests tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean-venv:
	rm -rf $(VENV)
