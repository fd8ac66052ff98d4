"""Online NMF state and updates: scikit-learn's MiniBatchNMF for mu, Mairal's running
sums for Frobenius, weights, purity and serialization."""

from __future__ import annotations

import doctest
import io
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import MiniBatchNMF

import nmfkit
from conftest import match_cosines, planted
from nmfkit import online
from nmfkit.online import (
    online_init,
    online_step,
    online_transform,
    state_arrays,
    state_from_arrays,
)


def test_doctests():
    res = doctest.testmod(online, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5, 0.0, 3.0])
@pytest.mark.parametrize("sparse", [False, True])
def test_mu_matches_sklearn_minibatch_partial_fit(beta, sparse):
    rng = np.random.default_rng(0)
    X = rng.random((240, 4)) @ rng.random((4, 30)) + 0.01
    if sparse:
        # beta <= 0 needs every entry positive: then the sparse matrix stores them all
        X = sp.csr_matrix(X * (X > 1.0) if beta > 0 else X)
    H0 = rng.random((4, 30)) + 0.1
    pen = dict(alpha_W=0.01, alpha_H=0.02, l1_ratio=0.3)
    ref = MiniBatchNMF(4, init="custom", beta_loss=beta, forget_factor=0.8, max_iter=1, **pen)
    state = online_init(H0, method="mu", beta=beta, forget_factor=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, s in enumerate(range(0, 240, 60)):
            if i == 0:
                ref.partial_fit(X[s:s + 60], W=np.ones((60, 4)), H=H0.copy())
            else:
                ref.partial_fit(X[s:s + 60])
            state, W = online_step(state, X[s:s + 60], **pen)
    np.testing.assert_allclose(state.H, ref.components_, rtol=1e-10, atol=1e-13)
    assert state.n_steps == ref.n_steps_ == 4
    # a batch's W is what scikit-learn's transform gives with the previous H
    assert W.shape == (60, 4)


def _stream(state, X, epochs, batch, seed=1, weights=None, shift=0.0):
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        perm = rng.permutation(X.shape[0])
        for s in range(0, X.shape[0], batch):
            rows = perm[s:s + batch]
            state, _ = online_step(
                state, X[rows] + shift, weights=None if weights is None else weights[rows]
            )
    return state


def _rel(X, W, H):
    return float(np.linalg.norm(X - W @ H) / np.linalg.norm(X))


def test_frobenius_online_reaches_the_full_batch_fit_on_planted_data():
    X, _, Ht = planted(0, m=1000, n=60, k=5)
    full = nmfkit.factorize(X, 5, random_state=0, tol=1e-8, max_iter=1000)
    H0 = nmfkit.init.initialize(X[:100], 5, "random", random_state=0)[1]
    state = _stream(online_init(H0, forget_factor=0.7), X, epochs=15, batch=100)
    W = online_transform(state, X)
    assert _rel(X, W, state.H) < 1e-4 and _rel(X, full.W, full.H) < 1e-6
    assert match_cosines(Ht, state.H).min() > 0.9999
    assert match_cosines(full.H, state.H).min() > 0.9999


@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_mu_online_beats_full_batch_mu_with_the_same_passes(beta):
    # 15 epochs of mini-batches read X as often as 15 full-batch MU iterations
    X, _, Ht = planted(1, m=1000, n=60, k=5)
    X = X + 1e-3
    W0, H0 = nmfkit.init.initialize(X, 5, "random", random_state=0)
    full = nmfkit.factorize(X, 5, solver="mu", beta_loss=beta, W=W0, H=H0, max_iter=15, tol=0)
    state = _stream(online_init(H0, method="mu", beta=beta, forget_factor=0.8), X, 15, 100)
    W = online_transform(state, X)
    d_online = nmfkit.losses.beta_divergence(X, W, state.H, beta)
    d_full = nmfkit.losses.beta_divergence(X, full.W, full.H, beta)
    assert d_online < 0.1 * d_full
    assert match_cosines(Ht, state.H).min() > 0.99


def test_running_sums_without_forgetting_are_plain_sums():
    X, _, _ = planted(2, m=300, n=40, k=3)
    state = online_init(np.random.default_rng(0).random((3, 40)), forget_factor=1.0)
    A = np.zeros((3, 3))
    B = np.zeros((3, 40))
    for s in range(0, 300, 75):
        state, W = online_step(state, X[s:s + 75])
        A += W.T @ W
        B += W.T @ X[s:s + 75]
    np.testing.assert_allclose(state.A, A, rtol=1e-12)
    np.testing.assert_allclose(state.B, B, rtol=1e-12)
    assert state.n_samples_seen == 300


def test_forget_factor_discounts_old_batches():
    X, _, _ = planted(3, m=200, n=30, k=3)
    s0 = online_init(np.random.default_rng(0).random((3, 30)), forget_factor=0.5)
    s1, W1 = online_step(s0, X[:100])
    s2, W2 = online_step(s1, X[100:])
    np.testing.assert_allclose(s2.A, 0.5 * (W1.T @ W1) + W2.T @ W2, rtol=1e-12)


def test_step_is_pure():
    X, _, _ = planted(4, m=100, n=20, k=3)
    for method in ("frobenius", "mu"):
        s = online_init(np.random.default_rng(0).random((3, 20)) + 0.1, method=method)
        copies = {k: v.copy() for k, v in state_arrays(s).items() if isinstance(v, np.ndarray)}
        Xc = X.copy()
        s2, _ = online_step(s, X[:50])
        assert s2 is not s and s2.n_steps == 1 and s.n_steps == 0
        for k, v in state_arrays(s).items():
            if isinstance(v, np.ndarray):
                assert np.array_equal(v, copies[k]), (method, k)
        assert np.array_equal(X, Xc)


@pytest.mark.parametrize("method", ["frobenius", "mu"])
def test_weights_zero_means_missing(method):
    X, _, Ht = planted(5, m=600, n=40, k=4)
    X = X + (1e-3 if method == "mu" else 0.0)
    rng = np.random.default_rng(0)
    M = (rng.random(X.shape) > 0.2).astype(float)
    junk = X.copy()
    junk[M == 0] = 1e3  # values at missing entries must not matter
    H0 = nmfkit.init.initialize(X[:100], 4, "random", random_state=0)[1] + 0.1
    a = _stream(online_init(H0, method=method), X, 12, 100, weights=M)
    b = _stream(online_init(H0, method=method), junk, 12, 100, weights=M)
    np.testing.assert_allclose(a.H, b.H, rtol=1e-10, atol=1e-12)
    assert match_cosines(Ht, a.H).min() > (0.99 if method == "frobenius" else 0.98)
    if method == "frobenius":
        assert a.A_feat is not None and a.A_feat.shape == (40, 4, 4)


def test_unit_weights_match_unweighted_frobenius():
    X, _, _ = planted(6, m=200, n=30, k=3)
    H0 = np.random.default_rng(0).random((3, 30))
    a, Wa = online_step(online_init(H0), X[:100])
    b, Wb = online_step(online_init(H0), X[:100], weights=np.ones((100, 30)))
    np.testing.assert_allclose(Wb, Wa, atol=1e-6)  # coordinate descent vs exact BPP
    np.testing.assert_allclose(b.A_feat + b.A[None], np.broadcast_to(a.A, (30, 3, 3)), atol=1e-5)
    np.testing.assert_allclose(b.H, a.H, atol=1e-5)


def test_sparse_batches_frobenius():
    X, _, _ = planted(7, m=300, n=40, k=3, density=0.3)
    H0 = np.random.default_rng(0).random((3, 40))
    a = _stream(online_init(H0), X, 2, 60)
    b = _stream(online_init(H0), sp.csr_matrix(X), 2, 60)
    np.testing.assert_allclose(b.H, a.H, rtol=1e-10, atol=1e-13)


def test_state_round_trip_without_pickle():
    X, _, _ = planted(8, m=100, n=20, k=3)
    s, _ = online_step(online_init(np.ones((3, 20))), X[:50], weights=np.ones((50, 20)))
    d = state_arrays(s)
    buf = io.BytesIO()
    np.savez(buf, **{k: v for k, v in d.items() if isinstance(v, np.ndarray)})
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        back = state_from_arrays({**dict(z), "online_meta": d["online_meta"]})
    assert back.n_steps == 1 and np.array_equal(back.A_feat, s.A_feat)
    s2, _ = online_step(s, X[50:])
    b2, _ = online_step(back, X[50:])
    assert np.array_equal(s2.H, b2.H)


def test_errors():
    H0 = np.ones((2, 3))
    with pytest.raises(ValueError, match="method"):
        online_init(H0, method="sgd")
    with pytest.raises(ValueError, match="beta=2"):
        online_init(H0, beta=1.0)
    with pytest.raises(ValueError, match="forget_factor"):
        online_init(H0, forget_factor=0)
    with pytest.raises(ValueError, match="non-negative"):
        online_init(-H0)
    s = online_init(H0)
    with pytest.raises(ValueError, match="columns"):
        online_step(s, np.ones((2, 4)))
    with pytest.raises(ValueError, match="negative"):
        online_step(s, -np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        online_step(s, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="shape"):
        online_step(s, np.ones((2, 3)), weights=np.ones((3, 3)))
    with pytest.raises(ValueError, match="zeros"):
        online_step(online_init(H0, method="mu", beta=0.0), np.zeros((2, 3)))
    empty, W = online_step(s, np.ones((0, 3)))
    assert W.shape == (0, 2) and empty is s
