"""Separable NMF (SPA, SNPA, XRAY) on the Jasper Ridge hyperspectral image.

Each of the 100 × 100 pixels is a row of X (10,000 pixels × 198 bands,
reflectance = raw / 5000). Separable NMF assumes *pure pixels*: for each
material (endmember) some pixel contains only that material, so that every
spectrum is a non-negative mixture of k pixel spectra, X ≈ W X[J, :]
(:class:`nmfkit.models.separable.SeparableNMF`). For each selection rule the
script prints the anchor pixels chosen (index and (row, col) position), the
relative error ‖X − W X[J, :]‖_F / ‖X‖_F, the run time, and the spectral
angle between each anchor spectrum and the ground-truth endmember it
matches best (Hungarian matching; ``JasperRidge_Y_M.mat`` holds the 4
reference endmembers tree, water, soil, road). The NNLS fit of X with the
reference endmembers is printed as a yardstick.

Data: ``JasperRidge_Y_M.mat`` (Zhu et al., see SOURCE.txt there). The
directory is taken from the first command-line argument, else
``../shared/data/hyperspectral_jasper_ridge`` relative to the repository root.

Usage::

    python examples/separable_hyperspectral.py [DATA_DIR] [--dist]

``--dist`` adds XRAY's "dist" rule (O(n_pixels²) per step: about 20 s).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io
from scipy.optimize import linear_sum_assignment

from nmfkit.models.separable import SeparableNMF
from nmfkit.nnls import bpp_nnls

FILE = "JasperRidge_Y_M.mat"
ENDMEMBERS = ["tree", "water", "soil", "road"]
N_ROWS = 100  # the image is 100 × 100, pixels stored column-major (MATLAB order)


def locate(arg: str | None) -> Path:
    repo = Path(__file__).resolve().parent.parent
    p = Path(arg).expanduser() if arg else repo.parent / "shared" / "data" / (
        "hyperspectral_jasper_ridge"
    )
    if not (p / FILE).is_file():
        sys.exit(
            f"Jasper Ridge data not found: {p / FILE} does not exist.\n"
            "Pass the folder holding JasperRidge_Y_M.mat (Y: 198 bands × 10000 pixels, "
            "M: 198 × 4 endmembers) as the first argument; it is distributed with "
            "F. Zhu's hyperspectral unmixing datasets (arXiv:1708.05125)."
        )
    return p


def spectral_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Angles in degrees between the rows of A and the rows of B."""
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    Bn = B / np.linalg.norm(B, axis=1, keepdims=True)
    return np.degrees(np.arccos(np.clip(An @ Bn.T, -1.0, 1.0)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", help="folder with JasperRidge_Y_M.mat")
    parser.add_argument("--dist", action="store_true", help="also run XRAY's 'dist' rule")
    args = parser.parse_args(argv)
    data = scipy.io.loadmat(locate(args.data_dir) / FILE)
    X = data["Y"].T.astype(np.float64) / 5000.0  # pixels × bands, reflectance
    M = data["M"].T  # 4 endmembers × bands
    k = M.shape[0]
    normX = np.linalg.norm(X)
    print(f"Jasper Ridge: X is {X.shape[0]} pixels × {X.shape[1]} bands, k = {k}")

    Wref = bpp_nnls(M @ M.T, M @ X.T).T
    print(
        "reference endmembers M, NNLS fit: relative error "
        f"{np.linalg.norm(X - Wref @ M) / normX:.4f}\n"
    )

    runs = [
        ("SPA", dict(method="spa")),
        ("SPA, rows normalized", dict(method="spa", normalize=True)),
        ("SNPA", dict(method="snpa")),
        ("SNPA, rows normalized", dict(method="snpa", normalize=True)),
        ("XRAY (max)", dict(method="xray")),
    ]
    if args.dist:
        runs.append(("XRAY (dist)", dict(method="xray", xray_rule="dist")))
    header = f"{'method':<24}{'rel. error':>11}{'time':>8}   " + "".join(
        f"{name:>8}" for name in ENDMEMBERS
    ) + "   mean angle"
    print(header)
    print("-" * len(header))
    details = []
    for name, options in runs:
        t0 = time.perf_counter()
        model = SeparableNMF(k, **options)
        W = model.fit_transform(X)
        elapsed = time.perf_counter() - t0
        rel = np.linalg.norm(X - W @ model.components_) / normX
        angles = spectral_angles(M, model.components_)
        rows, cols = linear_sum_assignment(angles)  # endmember i ↔ anchor cols[i]
        matched = angles[rows, cols]
        print(
            f"{name:<24}{rel:>11.4f}{elapsed:>7.2f}s   "
            + "".join(f"{a:>7.1f}°" for a in matched)
            + f"   {matched.mean():>6.1f}°"
        )
        details.append((name, model.anchors_, cols))
    print("\nanchor pixels (index (row, col)) matched to tree, water, soil, road:")
    for name, anchors, cols in details:
        where = [f"{int(anchors[c])} ({anchors[c] % N_ROWS}, {anchors[c] // N_ROWS})" for c in cols]
        print(f"  {name:<24}" + ", ".join(where))


if __name__ == "__main__":
    main()
