"""Sparse NMF: Hoyer's (2004) sparseness projection and constraints (nmfsc), and L1 (Hoyer 2002)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils._param_validation import InvalidParameterError

from nmfkit import NMF, factorize
from nmfkit.constraints import hoyer_projection, project_sparseness, sparseness_l1
from nmfkit.exceptions import ConvergenceWarning, IncompatibleOptionsError
from nmfkit.metrics import hoyer_sparseness


# ----------------------------------------------------------------- projection
def test_projection_hand_checked():
    # n = 2: the set {a + b = 3, a² + b² = 5} is {(2, 1), (1, 2)}; (2, 1) is closer
    np.testing.assert_allclose(hoyer_projection([3.0, 1.0], 3.0, np.sqrt(5)), [2.0, 1.0])
    # one round fixes the third coordinate at 0, the second lands on (2, 1, 0)
    np.testing.assert_allclose(
        hoyer_projection([4.0, 2.0, -1.0], 3.0, np.sqrt(5)), [2.0, 1.0, 0.0], atol=1e-14
    )
    # a positive multiple of a feasible point projects onto that point
    np.testing.assert_allclose(hoyer_projection([8.0, 4.0, 0.0], 3.0, np.sqrt(5)), [2, 1, 0])
    # sparseness 0: all entries equal; sparseness 1: all of L2 on the largest entry
    np.testing.assert_allclose(project_sparseness([[5.0, 1.0, 2.0, 0.0]], 0.0, l2=2.0), [[1.0] * 4])
    np.testing.assert_array_equal(
        project_sparseness([[0.5, 3.0, 1.0, -2.0]], 1.0, l2=1.0), [[0.0, 1.0, 0.0, 0.0]]
    )
    # a vector with equal entries: ties broken towards the first largest entry
    y = hoyer_projection(np.ones(4), sparseness_l1(0.5, 4), 1.0)
    assert y[0] == y.max() and abs(hoyer_sparseness(y) - 0.5) < 1e-12
    assert sparseness_l1(0.0, 9) == 3.0 and sparseness_l1(1.0, 9, l2=2.0) == 2.0


def test_projection_rejects_empty_sets_and_bad_sparseness():
    with pytest.raises(ValueError, match="no non-negative vector"):
        hoyer_projection([1.0, 2.0], 3.0, 1.0)  # l1 > sqrt(2)·l2
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        project_sparseness(np.ones((2, 3)), 1.2)


def test_projection_properties_on_random_vectors():
    """Non-negative, sparseness s to 1e-9, L2 as asked, and no random feasible point is closer."""
    rng = np.random.default_rng(12345)
    for t in range(400):
        n = int(rng.integers(2, 80))
        s = float(rng.choice([0.0, 1.0])) if t % 10 == 0 else float(rng.random())
        scale = float(10.0 ** rng.uniform(-3, 3))
        x = rng.normal(size=n) * scale + (scale if t % 3 == 0 else 0.0)
        l2 = float(10.0 ** rng.uniform(-2, 2))
        y = project_sparseness(x[None, :], s, l2=l2)[0]
        assert y.min() >= 0.0
        assert abs(hoyer_sparseness(y) - s) < 1e-9, (t, n, s)
        assert abs(np.linalg.norm(y) - l2) < 1e-9 * l2
        if t % 4 == 0:  # optimality against other points of the set
            others = project_sparseness(rng.normal(size=(100, n)) * scale, s, l2=l2)
            d = np.linalg.norm(others - x, axis=1).min()
            assert np.linalg.norm(y - x) <= d * (1 + 1e-12)


def test_project_columns_keeps_their_norms():
    rng = np.random.default_rng(0)
    W = rng.random((30, 4))
    P = project_sparseness(W, 0.6, axis=0)
    np.testing.assert_allclose(np.linalg.norm(P, axis=0), np.linalg.norm(W, axis=0))
    np.testing.assert_allclose(hoyer_sparseness(P, axis=0), 0.6, atol=1e-12)
    Z = project_sparseness(np.zeros((3, 5)), 0.5)  # zero vectors stay zero
    assert not Z.any()


# ------------------------------------------------------------------ nmfsc
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    return rng.random((80, 4)) @ rng.random((4, 50)) + 0.05 * rng.random((80, 50))


@pytest.mark.parametrize(
    "opts",
    [dict(sparseness_H=0.3), dict(sparseness_H=0.8), dict(sparseness_W=0.6),
     dict(sparseness_W=0.4, sparseness_H=0.7)],
)
def test_every_iterate_satisfies_the_constraints(data, opts):
    seen = []

    def check(state):
        H, W = state.H, state.W
        if "sparseness_H" in opts:
            dev = np.abs(hoyer_sparseness(H, axis=1) - opts["sparseness_H"]).max()
            assert dev < 1e-6, (state.n_iter, dev)
        if "sparseness_W" in opts:
            dev = np.abs(hoyer_sparseness(W, axis=0) - opts["sparseness_W"]).max()
            assert dev < 1e-6, (state.n_iter, dev)
        np.testing.assert_allclose(np.linalg.norm(H, axis=1), 1.0, atol=1e-9)
        assert H.min() >= 0 and W.min() >= 0
        seen.append(state.n_iter)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NMF(4, random_state=0, max_iter=60, tol=0, callback=check, **opts).fit(data)
    assert model.solver_ == "nmfsc"
    assert seen == list(range(1, 61))
    hist = model.loss_history_
    assert np.all(np.diff(hist) <= 1e-12 * hist[0]), "objective increased"
    # canonical form reorders but does not break the constraints
    if "sparseness_H" in opts:
        np.testing.assert_allclose(
            hoyer_sparseness(model.components_, axis=1), opts["sparseness_H"], atol=1e-6
        )
    if "sparseness_W" in opts:
        np.testing.assert_allclose(
            hoyer_sparseness(model.W_, axis=0), opts["sparseness_W"], atol=1e-6
        )
    np.testing.assert_allclose(np.linalg.norm(model.components_, axis=1), 1.0, atol=1e-9)
    assert model.reconstruction_err_ == pytest.approx(
        np.linalg.norm(data - model.W_ @ model.components_), rel=1e-9
    )


def test_nmfsc_sparse_input_and_float32(data):
    kw = dict(sparseness_H=0.5, random_state=0, max_iter=40, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = factorize(data, 3, **kw)
        csr = factorize(sp.csr_matrix(data), 3, **kw)
        f32 = factorize(data.astype(np.float32), 3, **kw)
    np.testing.assert_allclose(csr.W, dense.W, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(csr.H, dense.H, rtol=1e-8, atol=1e-10)
    assert f32.W.dtype == np.float32 and f32.H.dtype == np.float32
    np.testing.assert_allclose(hoyer_sparseness(f32.H, axis=1), 0.5, atol=1e-5)


def test_nmfsc_extreme_magnitudes_keep_the_constraint(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = NMF(3, sparseness_H=0.6, random_state=0, max_iter=30, tol=0).fit(data)
        b = NMF(3, sparseness_H=0.6, random_state=0, max_iter=30, tol=0).fit(data * 1e80)
    np.testing.assert_allclose(hoyer_sparseness(b.components_, axis=1), 0.6, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(b.components_, axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(b.components_, a.components_, rtol=1e-4, atol=1e-6)
    assert b.reconstruction_err_ == pytest.approx(1e80 * a.reconstruction_err_, rel=1e-6)


def test_sparseness_options_clear_errors(data):
    with pytest.raises(IncompatibleOptionsError, match="nmfsc"):
        NMF(3, solver="hals", sparseness_H=0.5).fit(data)
    with pytest.raises(IncompatibleOptionsError, match="nmfsc"):
        NMF(3, solver="mu", sparseness_W=0.5).fit(data)
    with pytest.raises(InvalidParameterError, match="sparseness_H"):
        NMF(3, sparseness_H=1.5).fit(data)
    with pytest.raises(InvalidParameterError, match="sparseness_W"):
        NMF(3, sparseness_W=-0.1).fit(data)
    with pytest.raises(IncompatibleOptionsError, match="penalty"):
        NMF(3, sparseness_H=0.5, alpha_W=0.1).fit(data)
    with pytest.raises(IncompatibleOptionsError, match="kullback-leibler"):
        NMF(3, sparseness_H=0.5, beta_loss="kullback-leibler").fit(data)
    with pytest.raises(ValueError, match="pgrad"):
        NMF(3, sparseness_H=0.5, stop_rule="pgrad").fit(data)


# ------------------------------------------------------- L1 (Hoyer 2002)
@pytest.mark.parametrize("solver", ["hals", "anls_bpp"])
def test_l1_gives_exact_zeros_where_the_plain_fit_has_none(solver):
    """Planted H with about 65% of its entries small (0.02, not 0), a little positive noise.

    From the planted start the unpenalized fit keeps every entry of H
    positive; the L1 penalty on both factors (``alpha_W = alpha_H = 0.01``,
    ``l1_ratio = 1``) sets at least 30% of H's entries exactly to zero
    (about 43%: the dominant component stays dense, the others lose about
    two thirds of their entries), nearly all where the planted entry was
    small, and no component collapses.
    """
    rng = np.random.default_rng(0)
    W0 = rng.random((150, 3)) + 0.5
    small = rng.random((3, 60)) < 0.65
    H0 = np.where(small, 0.02, 0.5 + rng.random((3, 60)))
    X = W0 @ H0 + 0.02 * rng.random((150, 60))
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for alpha in (0.0, 0.01):
            m = NMF(3, solver=solver, init="custom", alpha_W=alpha, l1_ratio=1.0,
                    max_iter=200, tol=1e-6)
            m.fit(X, W=W0.copy(), H=H0.copy())
            zeros = m.components_ == 0
            out[alpha] = dict(
                zeros=float(zeros.mean()), objective=float(m.loss_history_[-1]),
                rel_err=m.reconstruction_err_ / np.linalg.norm(X), model=m,
            )
    summary = ", ".join(
        f"alpha={a}: {r['zeros']:.1%} zeros, objective {r['objective']:.4g}, "
        f"relative error {r['rel_err']:.4f}"
        for a, r in out.items()
    )
    print(f"\n{solver}: {summary}")
    assert out[0.0]["zeros"] == 0.0, summary
    assert out[0.01]["zeros"] >= 0.30, summary
    m = out[0.01]["model"]
    assert np.all(np.any(m.components_ > 0, axis=1)), "a component collapsed"
    # the zeros land where the planted entries were small (up to component order)
    order = np.argmax(np.abs(np.corrcoef(m.components_, H0)[:3, 3:]), axis=1)
    hit = np.mean(small[order][m.components_ == 0])
    assert hit > 0.9, summary


def test_doctests():
    import doctest

    from nmfkit.constraints import sparseness
    from nmfkit.solvers import nmfsc

    for mod in (sparseness, nmfsc):
        res = doctest.testmod(mod)
        assert res.failed == 0 and res.attempted > 0, mod.__name__
