"""Anchor-word topic model: planted topics recovered, anchors found, contract."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from sklearn.utils.estimator_checks import check_estimator

from nmfkit.models.anchor_words import (
    AnchorWordTopics,
    cooccurrence_matrix,
    fast_anchor_words,
    recover_topics,
)


def planted_corpus(seed=0, k=5, V=200, D=2000, L=200, anchor_p=0.05, alpha=0.1):
    """Documents drawn from k planted topics, each with one anchor word.

    Non-anchor words mix a shared profile with a topic-specific Dirichlet
    draw, so that no word other than the planted anchors is (nearly)
    exclusive to one topic. Topic proportions are Dirichlet(alpha).
    """
    rng = np.random.default_rng(seed)
    anchors = rng.choice(V, k, replace=False)
    rest = np.setdiff1d(np.arange(V), anchors)
    shared = rng.dirichlet(np.ones(rest.size))
    H = np.zeros((k, V))
    for t in range(k):
        H[t, rest] = (0.3 * shared + 0.7 * rng.dirichlet(np.full(rest.size, 0.5))) * (
            1 - anchor_p
        )
        H[t, anchors[t]] = anchor_p
    theta = rng.dirichlet(np.full(k, alpha), size=D)
    X = np.array([rng.multinomial(L, p) for p in theta @ H], dtype=float)
    return X, H, anchors, theta


@pytest.fixture(scope="module")
def corpus():
    return planted_corpus()


def _tv_matched(H_true, H_est):
    C = 0.5 * np.abs(H_true[:, None, :] - H_est[None, :, :]).sum(-1)
    r, c = linear_sum_assignment(C)
    return C[r, c], c


@pytest.mark.parametrize("loss", ["l2", "kl"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_planted_topics_recovered(corpus, loss, sparse):
    X, H, anchors, theta = corpus
    Xin = sp.csr_matrix(X) if sparse else X
    model = AnchorWordTopics(5, loss=loss, random_state=0).fit(Xin)
    np.testing.assert_allclose(model.components_.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(model.components_ >= 0)
    assert set(model.anchors_.tolist()) == set(anchors.tolist())
    tv, match = _tv_matched(H, model.components_)
    assert tv.mean() < 0.05, tv
    # topic t's anchor is the planted anchor of the topic it matches
    np.testing.assert_array_equal(model.anchors_[match], anchors)
    np.testing.assert_allclose(model.topic_weights_.sum(), 1.0)


def test_transform_document_proportions(corpus):
    X, H, anchors, theta = corpus
    model = AnchorWordTopics(5, random_state=0).fit(X)
    _, match = _tv_matched(H, model.components_)
    W = model.transform(sp.csr_matrix(X[:300]))
    assert W.shape == (300, 5)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, rtol=1e-10)
    err = np.abs(W[:, match] - theta[:300]).sum(axis=1).mean() / 2
    assert err < 0.1, err
    Wd = model.transform(X[:300])
    np.testing.assert_allclose(Wd, W, rtol=1e-8, atol=1e-10)


def test_random_projection_same_anchors(corpus):
    X, H, anchors, _ = corpus
    model = AnchorWordTopics(5, projection_dim=50, random_state=0).fit(X)
    assert set(model.anchors_.tolist()) == set(anchors.tolist())


def test_cooccurrence_unbiased_on_known_corpus():
    # One document "a a b": the 6 ordered pairs of distinct tokens are
    # (a,a)×2, (a,b)×2, (b,a)×2.
    Q, used = cooccurrence_matrix(np.array([[2.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(Q, [[1 / 3, 1 / 3, 0], [1 / 3, 0, 0], [0, 0, 0]])
    assert used.tolist() == [True, False]
    Qs, _ = cooccurrence_matrix(sp.csr_matrix([[2.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(Qs, Q)


def test_recover_exact_population_topics():
    # From the population co-occurrence matrix the recovery is exact.
    rng = np.random.default_rng(1)
    k, V = 4, 30
    H = rng.dirichlet(np.ones(V), size=k)
    H[:, :k] = 0
    H[np.arange(k), np.arange(k)] = 0.1
    H /= H.sum(axis=1, keepdims=True)
    R = rng.random((k, k))
    R = R @ R.T + np.eye(k)
    R /= R.sum()
    Q = H.T @ R @ H
    J = fast_anchor_words(Q / Q.sum(axis=1, keepdims=True), k)
    assert sorted(J.tolist()) == list(range(k))
    for loss in ["l2", "kl"]:
        Hh, p, _ = recover_topics(Q, np.arange(k), loss=loss, tol=1e-10)
        np.testing.assert_allclose(Hh, H, atol=1e-5)
        np.testing.assert_allclose(p, R.sum(axis=1), atol=1e-5)


def test_errors():
    X = np.ones((20, 6))
    with pytest.raises(ValueError, match="anchor_thresh"):
        AnchorWordTopics(3, anchor_thresh=50).fit(X)
    with pytest.raises(ValueError, match="n_components=7"):
        AnchorWordTopics(7).fit(X)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        AnchorWordTopics(1).fit(np.full((5, 3), 0.1))
    with pytest.raises(ValueError, match="Negative"):
        AnchorWordTopics(2).fit(-X)


def test_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for loss in ["l2", "kl"]:
            results = check_estimator(AnchorWordTopics(2, loss=loss), on_fail=None)
            failed = [r for r in results if r["status"] != "passed"]
            assert not failed, [(r["check_name"], str(r["exception"])) for r in failed]
