# `make demo`: install + run the embedded demo; `make test`: install + run the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test bench
install:
	bash .ci/install.sh

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest -q tests

bench: install
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done
