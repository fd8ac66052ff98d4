"""HierarchicalNMF (HierNMF2): rank-2 kernels, planted hierarchy, tree export."""

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from nmfkit.models.hierarchical import (
    HierarchicalNMF,
    TreeNode,
    rank2_nmf,
    rank2_nnls,
    split_priority,
)


def two_level(seed=0, per=30, noise=0.05):
    """Documents (rows) in 2 top clusters × 2 sub-clusters.

    Each top cluster owns a block of 20 words, each sub-cluster a block of 15
    more, and 20 background words are shared; counts are Poisson."""
    rng = np.random.default_rng(seed)
    n_top, n_sub, n_bg = 20, 15, 20
    m = 2 * n_top + 4 * n_sub + n_bg
    rows, top, sub = [], [], []
    for s in range(4):
        t = s // 2
        rate = np.full(m, noise)
        rate[t * n_top : (t + 1) * n_top] += 1.0
        o = 2 * n_top + s * n_sub
        rate[o : o + n_sub] += 1.5
        rate[m - n_bg :] += 0.3
        rows.append(rng.poisson(rate, size=(per, m)))
        top += [t] * per
        sub += [s] * per
    return np.vstack(rows).astype(float), np.array(top), np.array(sub)


def test_rank2_nnls_matches_scipy_nnls():
    rng = np.random.default_rng(0)
    for trial in range(20):
        C = rng.standard_normal((8, 2)) if trial % 2 else rng.random((8, 2))
        Y = rng.standard_normal((8, 30))
        A = rank2_nnls(C.T @ C, C.T @ Y)
        ref = np.column_stack([nnls(C, y)[0] for y in Y.T])
        np.testing.assert_allclose(A, ref, atol=1e-10)
    # a singular Gram matrix falls back to the one-variable solutions
    C = np.column_stack([np.ones(4), np.ones(4)])
    A = rank2_nnls(C.T @ C, C.T @ np.ones((4, 1)))
    assert A.min() >= 0 and np.isclose((C @ A).ravel(), 1).all()


def test_rank2_nmf_dense_equals_sparse_and_decreases():
    X, _, sub = two_level(seed=3)
    rng = np.random.default_rng(0)
    W0, H0 = rng.random((X.shape[0], 2)), rng.random((2, X.shape[1]))
    W, H, it = rank2_nmf(X, W0, H0, max_iter=300)
    Ws, Hs, its = rank2_nmf(sp.csr_matrix(X), W0, H0, max_iter=300)
    np.testing.assert_allclose(W, Ws, rtol=1e-8, atol=1e-10)
    assert it == its
    np.testing.assert_allclose(np.linalg.norm(H, axis=1), 1.0)
    assert np.linalg.norm(X - W @ H) < np.linalg.norm(X - W0 @ H0)


def test_split_priority_prefers_mixtures():
    parent = np.array([5.0, 4, 3, 2, 1, 0.5, 0, 0])
    distinct = split_priority(parent, np.array([5.0, 0, 3, 0, 1, 0, 0, 0]),
                              np.array([0, 4.0, 0, 2, 0, 0.5, 0, 0]))
    off_topic = split_priority(parent, np.array([0, 0, 0, 0, 0, 0, 1.0, 0]),
                               np.array([0, 0, 0, 0, 0, 0, 0, 1.0]))
    assert 0 < off_topic < distinct <= 1
    assert split_priority(np.array([1.0, 0, 0]), np.ones(3), np.ones(3)) == -3.0


@pytest.mark.parametrize("criterion", ["ndcg", "error"])
@pytest.mark.parametrize("seed", [0, 1])
def test_planted_two_level_hierarchy(seed, criterion):
    X, top, sub = two_level(seed)
    model = HierarchicalNMF(4, random_state=seed, split_criterion=criterion).fit(X)
    assert model.n_leaves_ == 4 and len(model.tree_) == 7
    assert adjusted_rand_score(top, model.labels_at(1)) >= 0.9
    assert adjusted_rand_score(sub, model.labels_) >= 0.9
    # the tree is two levels deep and each sub-cluster sits under its top cluster
    assert [nd.depth for nd in model.tree_ if nd.is_leaf] == [2, 2, 2, 2]
    np.testing.assert_array_equal(model.labels_at(0), 0)
    np.testing.assert_array_equal(model.labels_at(5), model.labels_)
    assert np.array_equal(model.fit_predict(X), model.labels_)
    # leaf topics put their weight on their own word blocks
    assert model.components_.shape == (4, X.shape[1])
    for leaf, nid in enumerate(model.leaves_):
        s = np.bincount(sub[model.labels_ == leaf]).argmax()
        own = np.r_[(s // 2) * 20 : (s // 2 + 1) * 20, 40 + 15 * s : 55 + 15 * s]
        assert set(model.tree_[nid].top_features) <= set(own.tolist())


def test_sparse_input_gives_same_tree():
    X, _, sub = two_level(seed=2)
    a = HierarchicalNMF(4, random_state=0).fit(X)
    b = HierarchicalNMF(4, random_state=0).fit(sp.csr_matrix(X))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.transform(X).shape == (X.shape[0], 4)


def test_json_round_trip():
    X, _, _ = two_level(seed=4)
    model = HierarchicalNMF(4, random_state=0).fit(X)
    d = model.tree_to_dict()
    text = model.tree_json()
    assert json.loads(text) == d
    assert d["n_leaves"] == 4 and d["leaves"] == model.leaves_
    assert len(d["nodes"]) == 2 and d["n_samples"] == X.shape[0] and d["score"] is None
    nodes = HierarchicalNMF.tree_from_dict(text)
    assert len(nodes) == len(model.tree_)
    for a, b in zip(nodes, model.tree_, strict=True):
        assert (a.id, a.parent, a.depth, a.children, a.top_features) == (
            b.id, b.parent, b.depth, b.children, b.top_features)
        np.testing.assert_array_equal(a.samples, b.samples)
        assert a.score == b.score
        assert a.topic is None
    # with names and topics
    names = [f"w{j}" for j in range(X.shape[1])]
    d2 = json.loads(model.tree_json(names, include_topics=True))
    leaf = d2["nodes"][0]
    assert leaf["top_feature_names"] == [names[j] for j in leaf["top_features"]]
    back = HierarchicalNMF.tree_from_dict(d2)
    np.testing.assert_allclose(back[1].topic, model.tree_[1].topic)
    assert TreeNode.from_dict(model.tree_[2].to_dict()).to_dict() == model.tree_[2].to_dict()


def test_outlier_removal_and_its_switch():
    """A handful of documents on their own words is an unbalanced split: HierNMF2
    drops it as outliers (label -1) when its own split scores low; unbalanced=0 keeps all."""
    X, top, _ = two_level(seed=1)
    rng = np.random.default_rng(0)
    odd = np.zeros((3, X.shape[1]))
    odd[:, -5:] = rng.poisson(3.0, size=(3, 5))
    Xo = np.vstack([X, odd])
    kept = HierarchicalNMF(4, random_state=0, unbalanced=0).fit(Xo)
    assert (kept.labels_ >= 0).all()
    model = HierarchicalNMF(4, random_state=0).fit(Xo)
    lab = model.labels_
    np.testing.assert_array_equal(lab[-3:], -1)  # exactly the odd documents are dropped
    assert (lab == -1).sum() == 3
    assert adjusted_rand_score(top, model.labels_at(1)[:-3]) >= 0.9
    # they are dropped below the node that held them, so they keep a label above it
    assert (model.labels_at(1)[-3:] >= 0).all()


def test_stops_early_when_nothing_can_be_split():
    X = np.vstack([np.tile([5.0, 0, 0, 0], (3, 1)), np.tile([0, 0, 5.0, 1.0], (3, 1))])
    with pytest.warns(UserWarning, match="stopped at 2 of 5 leaves"):
        model = HierarchicalNMF(5, random_state=0, min_node_size=4).fit(X)
    assert model.n_leaves_ == 2 and sorted(np.bincount(model.labels_)) == [3, 3]


def test_bad_input_and_params():
    X, _, _ = two_level(seed=0, per=5)
    for bad in (1, 0, -3):
        with pytest.raises(ValueError, match="n_leaves"):
            HierarchicalNMF(bad).fit(X)
    with pytest.raises(ValueError, match="Negative values"):
        HierarchicalNMF(2).fit(X - 1)
    with pytest.raises(ValueError, match="min_node_size"):
        HierarchicalNMF(2, min_node_size=1).fit(X)
    with pytest.raises(ValueError, match="at least 2 samples"):
        HierarchicalNMF(2).fit(X[:1])
    model = HierarchicalNMF(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="depth"):
        model.labels_at(-1)
    c = clone(model)
    assert c.get_params() == model.get_params() and not hasattr(c, "tree_")


def test_reproducible():
    X, _, _ = two_level(seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = HierarchicalNMF(3, init="random", random_state=3).fit(X)
    b = HierarchicalNMF(3, init="random", random_state=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.tree_json() == b.tree_json()


def test_check_estimator():
    """scikit-learn's checks pass except check_clustering, which feeds
    standardised blobs with negative entries: NMF needs X ≥ 0 (the positive_only
    tag is not consulted by that check), so it rightly fails with our ValueError."""
    from sklearn.utils.estimator_checks import check_estimator

    expected = {"check_clustering": "needs negative data; NMF requires X >= 0"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(HierarchicalNMF(3, random_state=0), on_fail=None,
                                  expected_failed_checks=expected)
    bad = [r for r in results if r["status"] not in ("passed", "xfail")]
    assert not bad, [(r["check_name"], r["status"], str(r["exception"])) for r in bad]
    assert {r["check_name"] for r in results if r["status"] == "xfail"} == {"check_clustering"}
