PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# two pytest workers on two cores: one BLAS thread each
TESTENV := SCIPY_ARRAY_API=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

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
	$(TESTENV) $(BIN)/pytest -q -n 2 -m "not slow"

test-slow: $(STAMP)
	$(TESTENV) $(BIN)/pytest -q -n 2 -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) nmfkit-demo .pytest_cache
