"""One adapter per method (nmfkit's solvers and the peers), with one interface.

Every adapter has

* ``name``, ``library``, ``is_peer``, ``same_start`` (False when the method
  cannot take the common start and uses its own), ``traced`` (True when
  one run reports every iteration through a callback);
* ``available() -> (bool, reason)`` (import / environment check, no work);
* ``supports(loss, X) -> (bool, reason)`` (what the method can run);
* ``run(X, W0, H0, k, max_iter, time_cap, dtype, loss=..., norms=...)
  -> (list of (seconds, rel_err), n_iter)``.

For a traced method (nmfkit) one ``run`` returns the whole curve. A method
without a callback is run by :meth:`LadderMethod.run_ladder`: the same fit
from the same start with max_iter = 1, 2, 4, ... until a run takes the time
cap (see ``_metrics.ladder``); each run gives one (time, error) point.

Errors are computed in float64 from the returned factors, outside the timed
region (``_metrics.rel_error``); nmfkit's come from the objective its
callback receives (the solver computes it anyway), checked against the
factors at snapshot iterations.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import _metrics

HERE = Path(__file__).resolve().parent
NIMFA_VENV = HERE / "out" / "nimfa-venv"
NIMFA_LOG = HERE / "out" / "nimfa-install.log"
DENSE_LIMIT_BYTES = 1.2e9  # largest dense copy made for a dense-only peer


def _has(module: str) -> tuple[bool, str]:
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError) as exc:
        return False, f"{module}: {exc}"
    return (True, "") if found else (False, f"Python package {module!r} is not installed")


class Method:
    name = "?"
    library = "?"
    is_peer = True
    same_start = True
    traced = False
    losses: tuple[str, ...] = ("frobenius",)
    accepts_sparse = True
    note = ""
    #: rough cost of one case for the time budget: cap_units × cap + overhead_s seconds
    cap_units = 3.0
    overhead_s = 1.5

    def available(self) -> tuple[bool, str]:
        return True, ""

    def supports(self, loss: str, X) -> tuple[bool, str]:
        if loss not in self.losses:
            return False, f"{self.library} {self.name} does not minimise the {loss} loss"
        if sp.issparse(X) and not self.accepts_sparse:
            nbytes = X.shape[0] * X.shape[1] * X.dtype.itemsize
            if nbytes > DENSE_LIMIT_BYTES:
                return False, (
                    f"takes dense input only and the dense copy would need {nbytes / 1e9:.1f} GB"
                )
        return True, ""

    def prepare(self, X):
        """The matrix as this method receives it (made outside every timed region)."""
        if sp.issparse(X) and not self.accepts_sparse:
            return X.toarray()
        return X

    def run(self, X, W0, H0, k, max_iter, time_cap, dtype, *, loss="frobenius", norms=None):
        raise NotImplementedError

    def warmup(self, dtype, sparse: bool, loss: str, k: int) -> None:
        """One tiny run so that first-call costs (imports, JIT, thread pools) are not timed."""
        rng = np.random.default_rng(0)
        X = rng.random((80, 60)).astype(dtype)
        if sparse and self.accepts_sparse:
            X = sp.csr_matrix(X * (rng.random(X.shape) < 0.3))
        kk = min(k, 5)
        W0 = (rng.random((80, kk)) + 0.1).astype(dtype)
        H0 = (rng.random((kk, 60)) + 0.1).astype(dtype)
        norms = _metrics.data_norms(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.run(self.prepare(X), W0, H0, kk, 3, 1.0, dtype, loss=loss, norms=norms)


# --------------------------------------------------------------------------- nmfkit


class NmfkitMethod(Method):
    library = "nmfkit"
    is_peer = False
    traced = True
    cap_units = 1.2
    overhead_s = 0.5

    def __init__(self, solver: str, *, label: str | None = None, options=None, losses=None,
                 default: bool = False):
        self.solver = solver
        self.options = dict(options or {})
        self.name = label or f"nmfkit-{solver}"
        self.default = default
        if losses is not None:
            self.losses = tuple(losses)
        self.last_check: dict = {}

    def warmup(self, dtype, sparse: bool, loss: str, k: int) -> None:
        """The tiny warm-up run, with nmfkit's size thresholds lifted so that its
        compiled kernels (sparse products, fused KL, row-layout HALS, the threaded
        column sweeps, the duplicate check of unsorted CSR input) are loaded
        from numba's cache or compiled here, not inside the timed run."""
        from nmfkit.backend import _sparse_compiled
        from nmfkit.solvers import _mu_compiled
        from nmfkit.solvers import hals as hals_mod

        saved = (
            _sparse_compiled.min_work, _sparse_compiled.min_work_gather,
            _mu_compiled.MIN_WORK, hals_mod.ROWS_LAYOUT_MIN,
            _sparse_compiled.min_nnz_duplicate_check,
        )
        _sparse_compiled.min_work = _sparse_compiled.min_work_gather = 0
        _mu_compiled.MIN_WORK = 0
        _sparse_compiled.min_nnz_duplicate_check = 0
        try:
            super().warmup(dtype, sparse, loss, k)
            hals_mod.ROWS_LAYOUT_MIN = 0
            super().warmup(dtype, sparse, loss, k)
            if sparse:  # the threaded column sweeps (sparse fits, two blocks or more)
                from nmfkit.nnls import _hals_compiled

                kern = _hals_compiled._kernel("sweep_threads")
                if kern is not None:
                    a = np.ones((2, 3), dtype=dtype)
                    kern(a, a.copy(), np.eye(2, dtype=dtype), 0.0, 0.0, 1, 0.0)
            if sparse:  # the duplicate check that unsorted input (20 Newsgroups) runs
                X = sp.random(20, 30, density=0.3, format="csr", random_state=0, dtype=dtype)
                X.indices[X.indptr[1]:X.indptr[2]] = X.indices[X.indptr[1]:X.indptr[2]][::-1]
                X.has_sorted_indices = False
                _sparse_compiled.duplicate_free(X)
        finally:
            (
                _sparse_compiled.min_work, _sparse_compiled.min_work_gather,
                _mu_compiled.MIN_WORK, hals_mod.ROWS_LAYOUT_MIN,
                _sparse_compiled.min_nnz_duplicate_check,
            ) = saved

    def available(self):
        ok, why = _has("nmfkit")
        if not ok:
            return ok, why
        import nmfkit

        names = {s["name"] for s in nmfkit.list_solvers()}
        if self.solver not in names:
            return False, f"nmfkit has no solver {self.solver!r} (has {sorted(names)})"
        return True, ""

    def run(self, X, W0, H0, k, max_iter, time_cap, dtype, *, loss="frobenius", norms=None):
        """Whole curve from one run: the callback stamps the time and keeps the
        objective; the time spent inside the callback is taken off the clock,
        and the work nmfkit does after the last iteration (final objective,
        canonical form) is added to every point, since a user stopping at
        iteration n pays it too."""
        import nmfkit

        norms = norms or _metrics.data_norms(X)
        stamps: list[tuple[float, int, float]] = []
        snaps: list[tuple[int, np.ndarray, np.ndarray]] = []
        snap_at = {2**i for i in range(40)}
        inside = [0.0]
        t0 = [0.0]

        def callback(state):
            t_in = time.perf_counter()
            stamps.append((t_in - t0[0] - inside[0], state.n_iter, state.loss))
            if state.n_iter in snap_at:
                snaps.append((state.n_iter, np.array(state.W, copy=True),
                              np.array(state.H, copy=True)))
            inside[0] += time.perf_counter() - t_in
            return False

        Wc, Hc = W0.copy(), H0.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0[0] = time.perf_counter()
            res = nmfkit.factorize(
                X, k, init="custom", W=Wc, H=Hc, solver=self.solver, beta_loss=loss, tol=0,
                max_iter=max_iter, max_time=time_cap, callback=callback, random_state=0,
                solver_options=self.options or None,
            )
            total = time.perf_counter() - t0[0] - inside[0]
        tail = total - stamps[-1][0] if stamps else total
        points = [(t + tail, _metrics.error_from_objective(obj, loss, norms))
                  for t, _, obj in stamps]
        # check the objective-derived errors against the factors themselves
        worst = 0.0
        by_n = {n: e for (_, e), (_, n, _) in zip(points, stamps, strict=True)}
        for n, W, H in snaps:
            true = _metrics.rel_error(X, W, H, loss, norms)
            if true > 0 and math.isfinite(true):
                worst = max(worst, abs(by_n[n] - true) / true)
        final_true = _metrics.rel_error(X, res.W, res.H, loss, norms)
        final_diff = abs(points[-1][1] - final_true) / final_true if points and final_true else 0
        self.last_check = {
            "max_rel_diff_objective_vs_factors": max(worst, final_diff),
            "snapshots": len(snaps) + 1,
            "tail_s": tail,
            "stop_reason": res.stop_reason,
        }
        return points, int(res.n_iter)


# --------------------------------------------------------------------------- ladder peers


class LadderMethod(Method):
    """A method without a per-iteration callback: one point per run."""

    def run_ladder(self, X, W0, H0, k, time_cap, dtype, *, loss, norms, deadline=None,
                   on_point=None):
        def once(n):
            pts, n_done = self.run(X, W0, H0, k, n, time_cap, dtype, loss=loss, norms=norms)
            (t, e), = pts
            if on_point is not None:
                on_point({"n": n, "n_done": int(n_done), "t": t, "e": e})
            return t, e, n_done

        return _metrics.ladder(once, time_cap, deadline=deadline)

    def run_counts(self, X, W0, H0, k, counts, dtype, *, loss, norms):
        out = []
        for n in counts:
            pts, n_done = self.run(X, W0, H0, k, n, math.inf, dtype, loss=loss, norms=norms)
            (t, e), = pts
            out.append({"n": n, "n_done": int(n_done), "t": t, "e": e})
        return out


class SklearnNMF(LadderMethod):
    library = "scikit-learn"

    def __init__(self, solver: str):
        self.solver = solver
        self.name = f"sklearn-{solver}"
        self.losses = ("frobenius",) if solver == "cd" else ("frobenius", "kullback-leibler")
        self.note = (
            "`non_negative_factorization(init='custom', solver='cd', shuffle=False)`"
            if solver == "cd" else "`non_negative_factorization(init='custom', solver='mu')`"
        )

    def available(self):
        return _has("sklearn")

    def run(self, X, W0, H0, k, max_iter, time_cap, dtype, *, loss="frobenius", norms=None):
        from sklearn.decomposition import non_negative_factorization

        Wc, Hc = W0.copy(), H0.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            W, H, n_iter = non_negative_factorization(
                X, W=Wc, H=Hc, n_components=k, init="custom", solver=self.solver,
                beta_loss=loss, tol=0, max_iter=max_iter, random_state=0,
            )
            t = time.perf_counter() - t0
        return [(t, _metrics.rel_error(X, W, H, loss, norms))], int(n_iter)


class SklearnMiniBatch(LadderMethod):
    library = "scikit-learn"
    name = "sklearn-minibatch"
    losses = ("frobenius", "kullback-leibler")
    note = ("`MiniBatchNMF(init='custom', tol=0, max_no_improvement=None, batch_size=1024)`; "
            "an iteration is one pass over the data; the time includes the "
            "`reconstruction_err_` that `fit_transform` computes")

    def available(self):
        return _has("sklearn")

    def run(self, X, W0, H0, k, max_iter, time_cap, dtype, *, loss="frobenius", norms=None):
        from sklearn.decomposition import MiniBatchNMF

        Wc, Hc = W0.copy(), H0.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est = MiniBatchNMF(
                n_components=k, init="custom", beta_loss=loss, tol=0, max_no_improvement=None,
                max_iter=max_iter, batch_size=1024, random_state=0,
            )
            W = est.fit_transform(X, W=Wc, H=Hc)
            t = time.perf_counter() - t0
        return [(t, _metrics.rel_error(X, W, est.components_, loss, norms))], int(est.n_iter_)


class TensorlyHALS(LadderMethod):
    library = "tensorly"
    name = "tensorly-hals"
    accepts_sparse = False
    note = ("`non_negative_parafac_hals(X, rank=k, init=CPTensor((1, [W0, H0ᵀ])), tol=0)` on the "
            "matrix as a 2-way tensor (NumPy backend)")

    def available(self):
        return _has("tensorly")

    def run(self, X, W0, H0, k, max_iter, time_cap, dtype, *, loss="frobenius", norms=None):
        from tensorly.cp_tensor import CPTensor
        from tensorly.decomposition import non_negative_parafac_hals

        init = CPTensor((np.ones(k, dtype=dtype), [W0.copy(), np.ascontiguousarray(H0.T)]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            cp = non_negative_parafac_hals(X, rank=k, n_iter_max=max_iter, init=init, tol=0)
            t = time.perf_counter() - t0
        weights, (A, B) = cp
        W = A * (1.0 if weights is None else np.asarray(weights))
        return [(t, _metrics.rel_error(X, W, B.T, loss, norms))], int(max_iter)


class NmfTorch(LadderMethod):
    library = "nmf-torch"
    accepts_sparse = False
    same_start = False
    overhead_s = 4.0

    def __init__(self, algo: str):
        self.algo = algo
        self.name = f"nmftorch-{algo}"
        self.losses = ("kullback-leibler",) if algo == "mu" else ("frobenius",)
        self.note = (
            f"batch `{algo}` on CPU from its own `nndsvdar` start (it takes no custom start); "
            "the time of its initialisation, measured in each run, is subtracted"
        )

    def available(self):
        for mod in ("torch", "nmf"):
            ok, why = _has(mod)
            if not ok:
                return ok, why
        return True, ""

    def _model(self, k, max_iter, dtype, loss):
        import torch
        from nmf.nmf_models import NMFBatchHALS, NMFBatchMU, NMFBatchNnlsBpp

        kw = dict(
            n_components=k, init="nndsvdar", beta_loss=2.0 if loss == "frobenius" else 1.0,
            tol=0.0, random_state=0, alpha_W=0.0, l1_ratio_W=0.0, alpha_H=0.0, l1_ratio_H=0.0,
            fp_precision=torch.float64 if dtype == np.float64 else torch.float32,
            device_type="cpu", n_jobs=torch.get_num_threads(), max_iter=max_iter,
        )
        if self.algo == "hals":  # what run_nmf(algo="hals") builds
            return NMFBatchHALS(hals_tol=0.05, hals_max_iter=1, **kw)
        if self.algo == "halsvar":  # run_nmf's defaults
            return NMFBatchHALS(hals_tol=0.05, hals_max_iter=200, **kw)
        if self.algo == "bpp":
            return NMFBatchNnlsBpp(**kw)
        return NMFBatchMU(**kw)

    def run(self, X, W0, H0, k, max_iter, time_cap, dtype, *, loss="frobenius", norms=None):
        """One fit; the time its own initialisation took (``_initialize_H_W``, timed
        in the same run by wrapping it) is taken off, since the other methods are
        given their start."""
        model = self._model(k, max_iter, dtype, loss)
        spent = [0.0]
        init = model._initialize_H_W

        def timed_init(*args, **kwargs):
            t_in = time.perf_counter()
            try:
                return init(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t_in

        model._initialize_H_W = timed_init
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            Wt = model.fit_transform(X)  # their H (n_samples × k) is our W
            t = time.perf_counter() - t0 - spent[0]
        W = Wt.cpu().numpy()
        H = model.W.cpu().numpy()
        n_done = int(getattr(model, "num_iters", max_iter))
        return [(t, _metrics.rel_error(X, W, H, loss, norms))], n_done



class NimfaMU(LadderMethod):
    """nimfa's ``Nmf`` (Lee–Seung multiplicative updates) in a separate NumPy<2 venv."""

    library = "nimfa"
    name = "nimfa-mu"
    overhead_s = 8.0
    losses = ("frobenius", "kullback-leibler")
    note = ("`nimfa.Nmf(seed=None, W=W0, H=H0, update='euclidean' or 'divergence', "
            "min_residuals=0, test_conv>max_iter)` in `benchmarks/out/nimfa-venv` (NumPy < 2), "
            "run as a subprocess; only the nimfa call is timed")

    def __init__(self, threads: int = 1, workdir: Path | None = None):
        self.threads = threads
        self.workdir = workdir
        self.info: dict = {}

    @property
    def python(self) -> Path:
        return NIMFA_VENV / "bin" / "python"

    def available(self):
        if not self.python.exists():
            why = "no virtual environment at benchmarks/out/nimfa-venv"
            if NIMFA_LOG.exists():
                lines = [ln for ln in NIMFA_LOG.read_text(errors="replace").splitlines()
                         if ln.strip()]
                errs = [ln for ln in lines if "error" in ln.lower()] or lines[-3:]
                why += "; installing it failed: " + " | ".join(errs[-3:])
            return False, why
        proc = subprocess.run(
            [str(self.python), "-c", "import nimfa, numpy; print(numpy.__version__)"],
            capture_output=True, text=True, timeout=120,
        )
        if proc.returncode != 0:
            err = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            return False, "`import nimfa` fails in benchmarks/out/nimfa-venv: " + (
                err[-1] if err else f"exit {proc.returncode}")
        return True, ""

    def warmup(self, dtype, sparse, loss, k):
        return None  # the worker warms up itself

    def _files(self, X, W0, H0):
        key = (id(X), id(W0), id(H0))
        if getattr(self, "_key", None) == key:
            return self._paths
        d = Path(tempfile.mkdtemp(prefix="nimfa-", dir=self.workdir))
        xp = d / ("X.npz" if sp.issparse(X) else "X.npy")
        if sp.issparse(X):
            sp.save_npz(xp, X.tocsr(), compressed=False)
        else:
            np.save(xp, X)
        np.save(d / "W0.npy", W0)
        np.save(d / "H0.npy", H0)
        self._key, self._paths = key, (xp, d / "W0.npy", d / "H0.npy")
        return self._paths

    def _call(self, X, W0, H0, loss, extra, timeout):
        xp, wp, hp = self._files(X, W0, H0)
        cmd = [str(self.python), str(HERE / "_nimfa_worker.py"), "--x", str(xp), "--w0",
               str(wp), "--h0", str(hp), "--loss", loss, "--threads", str(self.threads), *extra]
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"nimfa worker timed out after {timeout:.0f} s") from None
        if proc.returncode != 0:
            err = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            raise RuntimeError("nimfa worker failed: " + (err[-1] if err else "no message"))
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        self.info = out.get("info", {})
        return out["points"]

    def run_ladder(self, X, W0, H0, k, time_cap, dtype, *, loss, norms, deadline=None,
                   on_point=None):
        left = None if deadline is None else max(deadline - time.perf_counter(), 1.0)
        extra = ["--time-cap", str(time_cap)]
        if left is not None:
            extra += ["--deadline-in", str(left)]
        # shorter than the harness's limit for the whole method (6 × cap + 45 s)
        return self._call(X, W0, H0, loss, extra, timeout=5 * time_cap + 35)

    def run_counts(self, X, W0, H0, k, counts, dtype, *, loss, norms):
        if not counts:
            return []
        return self._call(X, W0, H0, loss, ["--counts", ",".join(map(str, counts))],
                          timeout=60 + 60 * len(counts))

    def run(self, X, W0, H0, k, max_iter, time_cap, dtype, *, loss="frobenius", norms=None):
        (p,) = self.run_counts(X, W0, H0, k, [max_iter], dtype, loss=loss, norms=norms)
        return [(p["t"], p["e"])], p["n_done"]


# --------------------------------------------------------------------------- registry


def nmfkit_methods(full: bool) -> list[Method]:
    """nmfkit's solvers: the default ones always, the others in the full run."""
    out: list[Method] = [
        NmfkitMethod("hals", label="nmfkit-hals", default=True),
        NmfkitMethod("mu", losses=("kullback-leibler",), default=True, label="nmfkit-mu"),
        # the default extrapolates (in memory); this is the plain HALS of its other loops
        NmfkitMethod("hals", label="nmfkit-hals-plain", options={"extrapolate": False}),
        NmfkitMethod("anls_bpp"),
    ]
    if full:
        out += [
            NmfkitMethod("hals", label="nmfkit-hals-cd", options={"inner_repeat": False}),
            NmfkitMethod("mu", label="nmfkit-mu-frob"),
            NmfkitMethod("nesterov"),
            NmfkitMethod("active_set"),
            NmfkitMethod("pgd"),
        ]
    return out


def peer_methods(threads: int, workdir: Path | None = None) -> list[Method]:
    return [
        SklearnNMF("cd"),
        SklearnNMF("mu"),
        SklearnMiniBatch(),
        TensorlyHALS(),
        NmfTorch("hals"),
        NmfTorch("halsvar"),
        NmfTorch("bpp"),
        NmfTorch("mu"),
        NimfaMU(threads, workdir),
    ]
