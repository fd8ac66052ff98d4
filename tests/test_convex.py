"""Convex NMF: basis = Gᵀ X, sparser memberships than NMF, monotone, any sign, contract."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_estimator

from nmfkit import NMF
from nmfkit.models.convex import ConvexNMF


def blobs(seed=0, n=150, p=20, k=3, noise=0.3, shift=0.0):
    """k clusters around uniform centres in [0, 3]^p; ``shift`` < 0 gives mixed signs."""
    rng = np.random.default_rng(seed)
    C = 3.0 * rng.random((k, p))
    y = rng.integers(0, k, n)
    X = np.abs(C[y] + noise * rng.standard_normal((n, p))) + shift
    return X, y


def hoyer(A):
    """Hoyer (2004) sparseness of all entries of A: 1 = one non-zero, 0 = all equal."""
    x = np.abs(np.asarray(A)).ravel()
    n = x.size
    return (np.sqrt(n) - x.sum() / np.linalg.norm(x)) / (np.sqrt(n) - 1)


def unit_basis(W, H):
    """W rescaled so that the rows of H have unit norm (NMF's canonical form)."""
    return W * np.linalg.norm(H, axis=1)


@pytest.mark.parametrize("kind", ["dense", "sparse", "mixed"])
def test_components_are_GtX(kind):
    X, _ = blobs(0, shift=-1.5 if kind == "mixed" else 0.0)
    if kind == "sparse":
        X[X < 1.5] = 0.0
    Xin = sp.csr_matrix(X) if kind == "sparse" else X
    m = ConvexNMF(3, random_state=0).fit(Xin)
    G = m.G_
    assert G.shape == (150, 3) and (G >= 0).all() and (m.W_ >= 0).all()
    np.testing.assert_allclose(m.components_, G.T @ X, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        m.reconstruction_err_, np.linalg.norm(X - m.W_ @ G.T @ X), rtol=1e-10
    )


def test_memberships_sparser_than_nmf(record_property):
    """Ding et al.: convex-NMF memberships are sparse. Same data, same canonical scaling."""
    X, y = blobs(1)
    c = ConvexNMF(3, random_state=0).fit(X)
    n = NMF(3, random_state=0, max_iter=1000).fit(X)
    s_convex = hoyer(unit_basis(c.W_, c.components_))
    s_nmf = hoyer(unit_basis(n.W_, n.components_))
    record_property("hoyer_W_convex", float(s_convex))
    record_property("hoyer_W_nmf", float(s_nmf))
    print(f"Hoyer sparseness of W: ConvexNMF {s_convex:.3f}, NMF {s_nmf:.3f}")
    assert s_convex > s_nmf + 0.03, (s_convex, s_nmf)
    assert np.mean(c.W_ == 0) > np.mean(n.W_ == 0)
    assert adjusted_rand_score(y, c.labels_) == 1.0


@pytest.mark.parametrize("solver", ["mu-hals", "mu"])
@pytest.mark.parametrize("shift", [0.0, -1.5], ids=["nonneg", "mixed"])
def test_objective_non_increasing(solver, shift):
    X, _ = blobs(2, n=80, shift=shift)
    m = ConvexNMF(3, solver=solver, random_state=0, max_iter=150, tol=0).fit(X)
    lh = m.loss_history_
    assert lh.size == 151
    assert np.all(np.diff(lh) <= 1e-12 * lh[0])
    assert 0.5 * m.reconstruction_err_**2 <= lh[-1] * (1 + 1e-12)  # final exact W-step


def test_mixed_sign_accepted():
    X, y = blobs(3, shift=-1.5)
    assert (X < 0).any()
    with pytest.raises(ValueError, match="Negative values"):
        NMF(3).fit(X)
    m = ConvexNMF(3, random_state=0)
    W = m.fit_transform(X)
    assert (W >= 0).all() and (m.G_ >= 0).all() and (m.components_ < 0).any()
    np.testing.assert_array_equal(m.transform(X), W)
    np.testing.assert_array_equal(m.labels_, np.argmax(W, axis=1))
    assert adjusted_rand_score(y, m.labels_) >= 0.9


def test_sparse_matches_dense():
    X, _ = blobs(4, n=80)
    X[X < 1.5] = 0.0
    d = ConvexNMF(3, random_state=0, max_iter=50, tol=0).fit(X)
    s = ConvexNMF(3, random_state=0, max_iter=50, tol=0).fit(sp.csr_matrix(X))
    np.testing.assert_allclose(d.G_, s.G_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(d.W_, s.W_, rtol=1e-6, atol=1e-9)


def test_random_init_and_reproducibility():
    X, _ = blobs(5, n=80)
    a = ConvexNMF(3, init="random", random_state=1, max_iter=100, tol=0).fit(X)
    b = ConvexNMF(3, init="random", random_state=1, max_iter=100, tol=0).fit(X)
    np.testing.assert_array_equal(a.G_, b.G_)
    np.testing.assert_array_equal(a.W_, b.W_)
    assert np.all(np.diff(a.loss_history_) <= 1e-12 * a.loss_history_[0])


def test_errors():
    X, _ = blobs(0, n=40)
    Xn = X.copy()
    Xn[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ConvexNMF(2).fit(Xn)
    with pytest.raises(InvalidParameterError, match="n_components"):
        ConvexNMF(0).fit(X)
    with pytest.raises(InvalidParameterError, match="solver"):
        ConvexNMF(2, solver="hals").fit(X)
    with pytest.raises(ValueError, match="2D"):
        ConvexNMF(2).fit(X[:, 0])
    m = ConvexNMF(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        m.transform(X[:, :3])


def test_clone_and_params():
    m = ConvexNMF(3, solver="mu", max_iter=50, random_state=2)
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "G_")


def test_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(ConvexNMF(2, max_iter=100), on_fail=None)
    failed = [r for r in results if r["status"] != "passed"]
    assert not failed, [(r["check_name"], r["status"], str(r["exception"])) for r in failed]
