#!/usr/bin/env bash
# The GPU checks of nmfkit in one run, for a CUDA machine whose python3 already has
# torch (CUDA build), cupy, numpy, scipy, scikit-learn, numba and pytest:
#   1. tests/test_array_api.py on torch CUDA tensors and CuPy arrays (dense and sparse),
#      NMFKIT_TEST_GPU=1 so that a missing GPU library fails instead of skipping;
#   2. benchmarks/gpu.py: dense 20000 x 20000, k = 50, float32, GPU vs the CPU path,
#      agreement in float64 and the HALS launch cost.
# Logs and the results table go to $OUT (default benchmarks/out/gpu).
#
#   bash benchmarks/gpu_device_check.sh            # wheels for missing packages in .whl/
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/nmfkit-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/nmfkit-site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 SCIPY_ARRAY_API=1
export NMFKIT_REQUIRE_BACKENDS=1 NMFKIT_TEST_GPU=1
{
    nvidia-smi -L
    python3 -c 'import torch, cupy, numpy, scipy, sklearn, numba; print("torch", torch.__version__, "cupy", cupy.__version__, "numpy", numpy.__version__, "scipy", scipy.__version__, "sklearn", sklearn.__version__, "numba", numba.__version__)'
} 2>&1 | tee "$OUT/env.log"
python3 -m pytest -q -p no:cacheprovider --timeout=150 tests/test_array_api.py \
    -k "cuda or cupy or planted or inner_bound" 2>&1 | tee "$OUT/pytest.log"
rc_tests=$?
timeout "${BENCH_TIMEOUT:-300}" python3 benchmarks/gpu.py --out "$OUT/results_gpu.md" \
    ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
rc_bench=$?
echo "tests rc=$rc_tests bench rc=$rc_bench"
exit $(( rc_tests || rc_bench ))
