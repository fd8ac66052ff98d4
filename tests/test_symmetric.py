"""Symmetric NMF: planted block graphs, the exact Kalofolias–Gallopoulos case, errors.

scikit-learn's ``check_estimator`` does not apply to :class:`SymmetricNMF`:
its input is a square symmetric similarity matrix (n × n), while the
estimator checks feed generic rectangular (n_samples × n_features) data,
which is rightly rejected as non-square or non-symmetric. The parts of the
contract that do apply (get_params/clone, parameter validation at fit
time, fit/fit_transform/transform) are tested here directly.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from nmfkit.models.symmetric import SymmetricNMF, check_similarity, exact_symmetric_nrf


def block_graph(seed=0, sizes=(30, 30, 30), p_in=0.6, p_out=0.05):
    """Adjacency matrix of a planted-partition graph (no self loops) and the blocks."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    P = np.where(labels[:, None] == labels[None, :], p_in, p_out)
    U = np.triu(rng.random(P.shape) < P, 1).astype(float)
    perm = rng.permutation(labels.size)
    A = (U + U.T)[np.ix_(perm, perm)]
    return A, labels[perm]


def separable_gram(seed=0, n=60, r=4, sparse_factor=True):
    """A = V Vᵀ with V ≥ 0 holding a scaled identity block at random rows."""
    rng = np.random.default_rng(seed)
    V = rng.random((n, r))
    if sparse_factor:
        V *= rng.random((n, r)) < 0.6
    J = rng.choice(n, r, replace=False)
    V[J] = np.diag(rng.uniform(0.5, 2.0, r))
    return V @ V.T, V, J


@pytest.mark.parametrize("solver", ["anls", "hals"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_blocks_recovered(solver, seed):
    A, labels = block_graph(seed)
    model = SymmetricNMF(3, solver=solver, random_state=seed)
    W = model.fit_transform(A)
    assert W.shape == (90, 3) and np.all(W >= 0)
    assert adjusted_rand_score(labels, model.labels_) >= 0.95
    np.testing.assert_array_equal(model.labels_, np.argmax(W, axis=1))
    assert model.converged_
    assert model.reconstruction_err_ == pytest.approx(np.linalg.norm(A - W @ W.T), rel=1e-10)
    np.testing.assert_array_equal(model.components_, W.T)


def test_sparse_input_same_result():
    A, labels = block_graph(3)
    Wd = SymmetricNMF(3, random_state=0).fit_transform(A)
    Ws = SymmetricNMF(3, random_state=0).fit_transform(sp.csr_matrix(A))
    np.testing.assert_allclose(Ws, Wd, rtol=1e-8, atol=1e-10)


def test_n_init_and_transform_new_nodes():
    A, labels = block_graph(4)
    model = SymmetricNMF(3, n_init=2, random_state=0).fit(A[:80, :80])
    # memberships of the 10 held-out nodes from their edges to the training nodes
    W_new = model.transform(A[80:, :80])
    assert W_new.shape == (10, 3)
    pred = np.argmax(W_new, axis=1)
    # map the training clusters to the planted blocks by majority
    mapping = {t: np.bincount(labels[:80][model.labels_ == t]).argmax() for t in range(3)}
    assert np.mean([mapping[p] for p in pred] == labels[80:]) >= 0.9


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_exact_case_reconstructs(sparse):
    A, V, J = separable_gram()
    Ain = sp.csr_matrix(A) if sparse else A
    W, Jh = exact_symmetric_nrf(Ain, 4)
    assert np.linalg.norm(A - W @ W.T) <= 1e-10 * np.linalg.norm(A)
    assert np.all(W >= 0)
    D = W[Jh]
    np.testing.assert_array_equal(D, np.diag(np.diag(D)))  # W has a diagonal block at Jh
    model = SymmetricNMF(4, solver="exact").fit(Ain)
    assert model.reconstruction_err_ <= 1e-10 * np.linalg.norm(A)
    assert model.n_iter_ == 0 and sorted(model.anchors_.tolist()) == sorted(Jh.tolist())


def test_exact_case_dense_factor_unique_anchor_rows():
    # V dense apart from the identity block: J is unique and must be found.
    A, V, J = separable_gram(seed=1, n=40, r=5, sparse_factor=False)
    W, Jh = exact_symmetric_nrf(A, 5)
    assert sorted(Jh.tolist()) == sorted(J.tolist())
    np.testing.assert_allclose(W @ W.T, A, rtol=0, atol=1e-10 * np.abs(A).max())


def test_exact_case_errors_without_structure():
    rng = np.random.default_rng(0)
    B = rng.random((30, 3)) + 0.1  # all positive: no zero pattern, no diagonal block
    with pytest.raises(ValueError, match="no diagonal principal submatrix"):
        exact_symmetric_nrf(B @ B.T, 3)
    A, _, _ = separable_gram()
    with pytest.raises(ValueError, match="relative error"):
        exact_symmetric_nrf(A, 3)  # rank 4 matrix, r = 3
    with pytest.raises(ValueError, match="no diagonal principal submatrix"):
        SymmetricNMF(3, solver="exact").fit(B @ B.T)


def test_input_errors():
    A, _ = block_graph(0)
    N = A.copy()
    N[0, 1] += 1e-6  # asymmetric well beyond 1e-10 relative
    with pytest.raises(ValueError, match="symmetric"):
        SymmetricNMF(3).fit(N)
    with pytest.raises(ValueError, match="symmetric"):
        SymmetricNMF(3).fit(sp.csr_matrix(N))
    # asymmetry at round-off level is accepted
    T = A.copy()
    T[0, 1] += 1e-14
    check_similarity(T)
    with pytest.raises(ValueError, match="Negative"):
        SymmetricNMF(3).fit(-A)
    with pytest.raises(ValueError, match="square"):
        SymmetricNMF(3).fit(A[:, :50])
    with pytest.raises(ValueError, match="n_components=100"):
        SymmetricNMF(100).fit(A)
    with pytest.raises(ValueError, match="solver"):
        SymmetricNMF(3, solver="nope").fit(A)


def test_clone_and_params():
    m = SymmetricNMF(3, solver="hals", alpha=2.0, random_state=0)
    c = clone(m)
    assert c.get_params() == m.get_params()
    A, _ = block_graph(5)
    a = SymmetricNMF(3, random_state=0).fit_transform(A)
    b = SymmetricNMF(3, random_state=0).fit_transform(A)
    np.testing.assert_array_equal(a, b)
