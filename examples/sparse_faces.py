"""Hoyer's sparseness-constrained NMF on the CBCL faces (Hoyer 2004, Fig. 3 style).

Each of the 2,429 CBCL training faces (19 × 19 pixels, 8-bit, scaled to
[0, 1]) is a row of X. ``NMF(k, sparseness_H=s)`` constrains every basis
image (row of H) to unit L2 norm and Hoyer sparseness exactly ``s``::

    min ½‖X − WH‖²_F   s.t.  W, H ≥ 0,  ‖H[j]‖₂ = 1,
                              (√n − ‖H[j]‖₁) / (√n − 1) = s   (n = 361 pixels)

solved by Hoyer's nmfsc algorithm (projected gradient steps on H with his
step-size adaptation and his sparseness projection, multiplicative updates
on W). Low s gives global, face-like basis images; high s gives localized
parts. The unconstrained fit (HALS) is printed as the reference.

For each s the script prints the relative error ‖X − WH‖_F / ‖X‖_F, the
objective ½‖X − WH‖²_F, the min/max sparseness of the basis images (equal to
s to round-off: the constraint holds exactly), the fraction of exact zeros
in H, the iterations and the time, and saves the basis images as one PNG per
s (path printed).

Data: ``<data>/cbcl_faces/CBCL.mat`` (variable ``X``: 361 pixels × 2429 faces,
each column a face stored column-major). The folder holding ``cbcl_faces``
is the first argument, else ``../shared/data`` relative to the repository.

Usage::

    python examples/sparse_faces.py [DATA_DIR] [--k 25] [--max-iter 300] [--out DIR]

Time: about 20 s on a busy 2-core machine with ``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.io

from nmfkit import NMF
from nmfkit.exceptions import ConvergenceWarning
from nmfkit.metrics import hoyer_sparseness


def load_faces(arg: str | None) -> np.ndarray:
    repo = Path(__file__).resolve().parent.parent
    root = Path(arg).expanduser() if arg else repo.parent / "shared" / "data"
    f = root / "cbcl_faces" / "CBCL.mat"
    if not f.is_file():
        sys.exit(f"CBCL faces not found: {f} does not exist (pass the data folder as argument)")
    raw = scipy.io.loadmat(f)["X"]  # 361 × 2429 uint8, column-major images
    faces = raw.T.reshape(-1, 19, 19).transpose(0, 2, 1)  # upright 19 × 19 images
    return faces.reshape(len(faces), -1).astype(np.float64) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", help="folder holding cbcl_faces/CBCL.mat")
    ap.add_argument("--k", type=int, default=25)
    ap.add_argument("--max-iter", type=int, default=300)
    ap.add_argument("--out", type=Path, default=None, help="folder for the PNGs")
    args = ap.parse_args()
    X = load_faces(args.data)
    out = args.out or Path(tempfile.mkdtemp(prefix="nmfkit-sparse-faces-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"CBCL faces: X {X.shape}, k = {args.k}")
    print(f"{'s':>6} {'solver':>7} {'rel.err':>8} {'objective':>10} {'min s':>8} {'max s':>8} "
          f"{'zeros':>6} {'iter':>5} {'time':>6}")
    for s in (None, 0.5, 0.75):
        kw = {"solver": "hals"} if s is None else {"sparseness_H": s}
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = NMF(args.k, random_state=0, max_iter=args.max_iter, tol=1e-5, **kw).fit(X)
        dt = time.perf_counter() - t
        sH = hoyer_sparseness(m.components_, axis=1)
        rel = m.reconstruction_err_ / np.linalg.norm(X)
        label = "none" if s is None else f"{s:g}"
        print(f"{label:>6} {m.solver_:>7} {rel:8.4f} {0.5 * m.reconstruction_err_**2:10.2f} "
              f"{sH.min():8.6f} {sH.max():8.6f} {np.mean(m.components_ == 0):6.3f} "
              f"{m.n_iter_:5d} {dt:5.1f}s")
        if s is not None:
            from nmfkit.plotting import plot_components

            fig = plot_components(m.components_, (19, 19))
            fig.suptitle(f"CBCL basis images, Hoyer sparseness s = {s:g}", fontsize=9)
            path = out / f"sparse_faces_s{s:g}.png"
            fig.savefig(path, dpi=110)
            print(f"       saved {path}")


if __name__ == "__main__":
    main()
