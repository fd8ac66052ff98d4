PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# two pytest workers on two cores: one BLAS/OpenMP/numba thread each; the array-API
# tests fail (rather than skip) when torch or array-api-strict is missing
TESTENV := SCIPY_ARRAY_API=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 NMFKIT_REQUIRE_BACKENDS=1

.PHONY: demo test test-slow lint bench bench-quick bench-gpu bench-big clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,test]'
	# the PyTorch path is tested too: the CPU build on local disk, never a CUDA download
	$(BIN)/pip install --quiet torch==2.13.0
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

# Benchmarks against peer libraries (benchmarks/README.md). The peers go into
# .venv here, not through pyproject: torch is pinned to the CPU build on local
# disk, and nmf-torch is installed without its dependencies so that its
# unpinned torch requirement cannot pull a CUDA build. nimfa needs NumPy < 2
# and gets its own venv; when that cannot be set up it is reported as not
# runnable with the error. BENCH_ARGS passes options to run.py.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps nmf-torch
	@benchmarks/out/nimfa-venv/bin/python -c 'import nimfa' 2>/dev/null || { mkdir -p benchmarks/out && rm -rf benchmarks/out/nimfa-venv && { $(PY) -m venv benchmarks/out/nimfa-venv && benchmarks/out/nimfa-venv/bin/pip install 'numpy<2' nimfa threadpoolctl; } > benchmarks/out/nimfa-install.log 2>&1; } || { rm -rf benchmarks/out/nimfa-venv; echo "nimfa could not be installed (benchmarks/out/nimfa-install.log); it will be reported as not runnable"; }
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# nmfkit on PyTorch CUDA arrays vs the NumPy path (benchmarks/gpu.py); on a GPU
# machine, install a CUDA build of torch first (pip install torch), since
# make's set-up installs the CPU build
bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/gpu.py $(BENCH_ARGS)

# A 1e6 × 1e5 CSR matrix with 5e7 non-zeros at k = 50 (benchmarks/big_sparse.py): HALS
# seconds per iteration and peak memory, nmfkit float64/float32 vs scikit-learn cd, where
# an iteration goes, and the compiled sparse kernels vs SciPy on 1 and 2 threads.
# Results in benchmarks/results_big_sparse.md; about 15 minutes, 3 GB of memory.
bench-big: $(STAMP)
	$(BIN)/python benchmarks/big_sparse.py $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps nmf-torch
	@benchmarks/out/nimfa-venv/bin/python -c 'import nimfa' 2>/dev/null || { mkdir -p benchmarks/out && rm -rf benchmarks/out/nimfa-venv && { $(PY) -m venv benchmarks/out/nimfa-venv && benchmarks/out/nimfa-venv/bin/pip install 'numpy<2' nimfa threadpoolctl; } > benchmarks/out/nimfa-install.log 2>&1; } || { rm -rf benchmarks/out/nimfa-venv; echo "nimfa could not be installed (benchmarks/out/nimfa-install.log); it will be reported as not runnable"; }
	$(BIN)/python benchmarks/run.py --quick --out benchmarks/quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) nmfkit-demo .pytest_cache
