PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint bench bench-quick clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nmfkit demo -o nmfkit-demo

test: $(STAMP)
	$(BIN)/ruff check src tests
	SCIPY_ARRAY_API=1 $(BIN)/pytest -q -n 2 -m "not slow"

test-slow: $(STAMP)
	SCIPY_ARRAY_API=1 $(BIN)/pytest -q -n 2 -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) nmfkit-demo .pytest_cache
