# The two commands a new machine needs:
#   make demo   set up .venv, then run the demo pair headless on the embedded problems
#   make test   set up .venv, then run the test suite
# Everything else: `.venv/bin/tunelens --help`.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-vllm lint bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tunelens --headless --pair demo --dataset embedded --limit 8 --mode zero-shot-cot

test: $(STAMP)
	$(PY) -m pytest -q

test-vllm: $(STAMP)
	$(PY) -m pytest -q -m vllm tests/test_served_vllm.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
