"""The ``nmfkit`` command line.

Subcommands
-----------
``nmfkit fit INPUT -k K -o OUTDIR``
    Factorize a matrix file (``.csv``, ``.tsv``, ``.txt``, ``.npy``, ``.npz``,
    ``.mtx``; rows are samples) and write ``W.csv``, ``H.csv``, ``W.npy``,
    ``H.npy``, ``model.npz`` (load with :func:`nmfkit.load`),
    ``summary.json`` and ``convergence.png`` to ``OUTDIR``.
    With ``--report`` also ``components.png`` (images of the rows of H
    when ``--image-shape HxW`` is given, else H as a heatmap),
    ``top_features.png`` (the heaviest features of each component) and
    ``report.html``, a page embedding the three figures.
``nmfkit rank INPUT --ks 2:12 [--method consensus|frv|cv] [-o OUTDIR]``
    Choose the rank with :func:`nmfkit.selection.select_rank`: print the
    criteria per k and the best k; with ``-o`` also write ``rank.json``,
    ``rank.csv`` and ``rank.png`` (and ``consensus.png``, the consensus
    matrix of the best k, for ``--method consensus``). ``--ks`` takes an
    inclusive range ``A:B`` or a comma list ``2,4,8``.
``nmfkit demo [-o OUTDIR] [-k K]``
    Factorize scikit-learn's 8×8 digits and write an HTML report with the
    learned components and the convergence curve.

Exit status: 0 on success, 2 for a bad input file or option (one line on
stderr, ``nmfkit: error: ...``), 1 when the fit or writing the outputs fails.

Examples
--------
>>> from nmfkit.cli import main
>>> main(["--version"])  # doctest: +SKIP
nmfkit 0.1.0
0
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import logging
import math
import platform
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import scipy.sparse as sp

from .io import DataFileError, atomic_open, atomic_write_text, read_matrix, save_model

__all__ = ["main"]

PROG = "nmfkit"


class _UsageError(Exception):
    """A bad option value found after parsing (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message: ``nmfkit: error: ...`` and exit 2."""

    def error(self, message: str) -> NoReturn:
        hint = f" (see '{self.prog} --help')"
        self.exit(2, f"{PROG}: error: {message}{hint}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _beta_loss(text: str) -> str | float:
    """A loss name or a float β."""
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"beta must be finite, got {text!r}")
    return value


def _ks(text: str) -> list[int]:
    """Ranks to try: an inclusive range ``A:B`` or a comma list ``K1,K2,...``."""
    hint = "an inclusive range A:B (e.g. 2:12) or a comma list (e.g. 2,4,8) of ranks >= 1"
    t = text.strip()
    try:
        if ":" in t:
            first, sep, last = t.partition(":")
            if ":" in last:
                raise ValueError
            a, b = int(first), int(last)
            if b < a:
                raise argparse.ArgumentTypeError(
                    f"expected A:B with A <= B, got {text!r} (the range is inclusive)"
                )
            values = list(range(a, b + 1))
        else:
            values = [int(v) for v in t.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {hint}, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected {hint}, got {text!r}")
    return sorted(set(values))


def _image_shape(text: str) -> tuple[int, int]:
    """``HxW`` (or ``H,W``): the shape of one component as an image."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH (e.g. 8x8), got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"expected positive HEIGHTxWIDTH, got {text!r}")
    return h, w


def _holdout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 0.5], got {text!r}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog=PROG,
        description="Non-negative matrix factorization X ≈ W H (rows of X are samples).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    fit = sub.add_parser(
        "fit",
        help="factorize a matrix file",
        description="Factorize the matrix in INPUT (rows are samples) and write W, H, "
        "a summary and a convergence plot to OUTDIR.",
    )
    fit.add_argument("input", metavar="INPUT", help=".csv, .tsv, .txt, .npy, .npz or .mtx file")
    fit.add_argument("-k", "--n-components", type=_positive_int, required=True, metavar="K",
                     help="number of components (rank)")
    fit.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                     help="output directory (created if needed)")
    _add_fit_options(fit)
    fit.add_argument("--report", action="store_true",
                     help="also write components.png, top_features.png and report.html")
    fit.add_argument("--image-shape", type=_image_shape, default=None, metavar="HxW",
                     help="with --report: show each component as an HxW image "
                     "(default: H as one heatmap)")
    fit.add_argument("--n-top", type=_positive_int, default=10, metavar="N",
                     help="with --report: features shown per component (default: 10)")

    rank = sub.add_parser(
        "rank",
        help="choose the rank k",
        description="Choose the rank of an NMF of the matrix in INPUT (rows are samples): "
        "consensus clustering (cophenetic correlation), the sequential-NMF FRV elbow, or "
        "entry-wise cross-validation. Prints the criteria per k and the best k.",
    )
    rank.add_argument("input", metavar="INPUT", help=".csv, .tsv, .txt, .npy, .npz or .mtx file")
    rank.add_argument("--ks", type=_ks, required=True, metavar="A:B",
                      help="ranks to try: an inclusive range A:B or a comma list K1,K2,...")
    rank.add_argument("--method", choices=("consensus", "frv", "cv"), default="consensus",
                      help="selection method (default: consensus)")
    rank.add_argument("--n-runs", type=_positive_int, default=10, metavar="N",
                      help="restarts per k (consensus) or held-out repeats (cv) (default: 10)")
    rank.add_argument("--holdout", type=_holdout, default=0.1, metavar="F",
                      help="cv: share of the entries held out per repeat (default: 0.1)")
    rank.add_argument("--n-jobs", type=int, default=1, metavar="N",
                      help="parallel fits (-1: all cores; the result does not depend on it)")
    rank.add_argument("-o", "--output", default=None, metavar="OUTDIR",
                      help="write rank.json, rank.csv and rank.png here")
    rank.add_argument("--beta-loss", type=_beta_loss, default=None, metavar="NAME_OR_FLOAT",
                      help="loss of the fits (consensus, cv; default: frobenius)")
    rank.add_argument("--solver", default=None, help="solver name (default: auto)")
    rank.add_argument("--init", default=None,
                      help="initialization (default: random for consensus, auto otherwise)")
    rank.add_argument("--max-iter", type=_positive_int, default=None, metavar="N",
                      help="maximum iterations per fit (default: 200)")
    rank.add_argument("--tol", type=_non_negative_float, default=None, metavar="T",
                      help="stopping tolerance of each fit (default: 1e-4)")
    rank.add_argument("--seed", type=int, default=None, metavar="S", help="random seed")
    rank.add_argument("-q", "--quiet", action="store_true",
                      help="print only the best k (no table, warnings or messages)")

    demo = sub.add_parser(
        "demo",
        help="factorize scikit-learn's digits and write an HTML report",
        description="Factorize scikit-learn's 8x8 digits (1797 images) and write "
        "components.png, convergence.png, summary.json and index.html.",
    )
    demo.add_argument("-o", "--output", default="nmfkit-demo", metavar="OUTDIR",
                      help="output directory (default: nmfkit-demo)")
    demo.add_argument("-k", "--n-components", type=_positive_int, default=16, metavar="K",
                      help="number of components (default: 16)")
    _add_fit_options(demo, seed=0)
    return parser


def _add_fit_options(p: argparse.ArgumentParser, *, seed: int | None = None) -> None:
    p.add_argument("--beta-loss", type=_beta_loss, default="frobenius", metavar="NAME_OR_FLOAT",
                   help="frobenius, kullback-leibler, itakura-saito or a float beta "
                   "(default: frobenius)")
    p.add_argument("--solver", default="auto", help="solver name (default: auto)")
    p.add_argument("--init", default="auto", help="initialization (default: auto)")
    p.add_argument("--max-iter", type=_positive_int, default=200, metavar="N",
                   help="maximum iterations (default: 200)")
    p.add_argument("--tol", type=_non_negative_float, default=1e-4, metavar="T",
                   help="relative objective decrease to stop at (default: 1e-4)")
    p.add_argument("--max-time", type=_non_negative_float, default=None, metavar="SECONDS",
                   help="wall-clock limit for the fit")
    p.add_argument("--seed", type=int, default=seed, metavar="S",
                   help=f"random seed (default: {seed})")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar, warnings or messages on success")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log the objective at every iteration")


# --------------------------------------------------------------------------- fitting


class _Progress:
    """A tqdm bar fed by the estimator's callback; silent when stderr is not a terminal."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="it", leave=False, file=sys.stderr)

    def __call__(self, state: Any) -> None:
        if self.bar is None:
            return
        if state.n_iter < self.bar.n:  # a new start (n_init > 1)
            self.bar.reset()
        self.bar.update(state.n_iter - self.bar.n)
        self.bar.set_postfix(objective=f"{state.loss:.6g}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fit(X: Any, args: argparse.Namespace, desc: str) -> tuple[Any, np.ndarray]:
    """Fit nmfkit.NMF with the command-line options; return (model, W)."""
    from . import NMF

    progress = _Progress(args.max_iter, desc, enabled=not args.quiet)
    model = NMF(
        n_components=args.n_components,
        init=args.init,
        solver=args.solver,
        beta_loss=args.beta_loss,
        tol=args.tol,
        max_iter=args.max_iter,
        max_time=args.max_time,
        random_state=args.seed,
        verbose=int(args.verbose),
        callback=progress,
    )
    handler = None
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
        logger = logging.getLogger("nmfkit")
        logger.addHandler(handler)
        old_level = logger.level
        logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            W = model.fit_transform(X)
    finally:
        progress.close()
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
    _print_warnings(caught, args.quiet)
    return model, np.asarray(W)


def _print_warnings(caught: list, quiet: bool) -> None:
    """Each distinct warning once, on one line of stderr."""
    if quiet:
        return
    seen = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        if text not in seen:
            seen.add(text)
            print(f"{PROG}: warning: {text}", file=sys.stderr)


def _relative_error(X: Any, W: np.ndarray, H: np.ndarray) -> float:
    """‖X − WH‖_F / ‖X‖_F, from Gram matrices when X is sparse (X is never densified)."""
    if sp.issparse(X):
        norm_x2 = float(X.multiply(X).sum())
        cross = float(np.sum(W * np.asarray(X @ H.T)))
        gram = float(np.sum((W.T @ W) * (H @ H.T)))
        err2 = max(norm_x2 - 2.0 * cross + gram, 0.0)
    else:
        norm_x2 = float(np.sum(np.square(X, dtype=np.float64)))
        err2 = float(np.sum(np.square(X - W @ H, dtype=np.float64)))
    return math.sqrt(err2 / norm_x2) if norm_x2 > 0 else 0.0


def _versions() -> dict[str, str]:
    import scipy
    import sklearn

    from . import __version__

    out = {
        "nmfkit": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }
    mpl = sys.modules.get("matplotlib")
    if mpl is not None:
        out["matplotlib"] = mpl.__version__
    return out


def _json_safe(value: Any) -> Any:
    """Plain JSON values; non-finite floats become None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _summary(X: Any, model: Any, W: np.ndarray, args: argparse.Namespace, source: str) -> dict:
    H = model.components_
    history = np.asarray(model.loss_history_, dtype=np.float64)
    return _json_safe({
        "input": {
            "path": source,
            "n_samples": int(X.shape[0]),
            "n_features": int(X.shape[1]),
            "sparse": bool(sp.issparse(X)),
            "nnz": int(X.nnz) if sp.issparse(X) else int(np.count_nonzero(X)),
        },
        "options": {
            "n_components": args.n_components,
            "beta_loss": args.beta_loss,
            "solver": args.solver,
            "init": args.init,
            "max_iter": args.max_iter,
            "tol": args.tol,
            "max_time": args.max_time,
            "seed": args.seed,
        },
        "solver": model.solver_,
        "n_iter": int(model.n_iter_),
        "stop_reason": model.stop_reason_,
        "converged": bool(model.converged_),
        "reconstruction_err": float(model.reconstruction_err_),
        "relative_error": _relative_error(X, W, H),
        "relative_error_definition": "||X - W H||_F / ||X||_F",
        "objective_initial": float(history[0]),
        "objective_final": float(history[-1]),
        "elapsed_seconds": float(model.elapsed_),
        "versions": _versions(),
    })


# --------------------------------------------------------------------------- writing


def _write_csv(
    path: Path,
    M: np.ndarray,
    row_names: Sequence[str] | None,
    col_names: Sequence[str] | None,
) -> None:
    """Write a matrix as CSV, with an index column and/or header row when names are given."""
    with atomic_open(path, "w") as f:
        writer = csv.writer(f, lineterminator="\n")
        if col_names is not None:
            writer.writerow(([""] if row_names is not None else []) + list(col_names))
        for i, row in enumerate(np.asarray(M, dtype=np.float64).tolist()):
            cells = [repr(v) for v in row]
            writer.writerow(([row_names[i]] if row_names is not None else []) + cells)


def _write_npy(path: Path, M: np.ndarray) -> None:
    with atomic_open(path, "wb") as f:
        np.save(f, np.asarray(M), allow_pickle=False)


def _save_figure(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)


def _write_convergence(model: Any, path: Path) -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    from .plotting import plot_convergence

    _save_figure(plot_convergence(model), path)
    return True


def _check_outdir(out: str) -> Path:
    """Refuse an output path that is a file before spending time on the fit."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise _UsageError(f"output path {out} exists and is not a directory")
    return path


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _cmd_fit(args: argparse.Namespace) -> int:
    X, row_names, col_names = read_matrix(args.input)
    out = _check_outdir(args.output)
    if args.report:
        if not _has_matplotlib():
            raise _UsageError("--report needs matplotlib (pip install 'nmfkit[plot]')")
        if args.image_shape is not None and math.prod(args.image_shape) != X.shape[1]:
            h, w = args.image_shape
            raise _UsageError(
                f"--image-shape {h}x{w} holds {h * w} pixels but {args.input} has "
                f"{X.shape[1]} columns (features)"
            )
    model, W = _fit(X, args, desc="nmfkit fit")
    out.mkdir(parents=True, exist_ok=True)
    H = np.asarray(model.components_)
    components = [f"component_{j}" for j in range(H.shape[0])]

    _write_csv(out / "W.csv", W, row_names, components)
    _write_csv(out / "H.csv", H, components, col_names)
    _write_npy(out / "W.npy", W)
    _write_npy(out / "H.npy", H)
    save_model(model, out / "model.npz")
    summary = _summary(X, model, W, args, str(args.input))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    written = ["W.csv", "H.csv", "W.npy", "H.npy", "model.npz", "summary.json"]
    if _write_convergence(model, out / "convergence.png"):
        written.append("convergence.png")
    elif not args.quiet:
        print(f"{PROG}: warning: matplotlib is not installed; skipped convergence.png",
              file=sys.stderr)
    if args.report:
        written += _write_report(out, model, summary, args, col_names)
    _say(
        args,
        f"{PROG}: k={H.shape[0]}, {summary['n_iter']} iterations "
        f"(stopped on {summary['stop_reason']}), relative error "
        f"{summary['relative_error']:.4g}, {summary['elapsed_seconds']:.3g} s",
    )
    _say(args, f"{PROG}: wrote {', '.join(written)} to {out}")
    return 0


_REPORT_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nmfkit report: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 64em; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: 0.2em 1em 0.2em 0; text-align: left; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
<h1>nmfkit report: {title}</h1>
<p>{n_samples} samples &times; {n_features} features{sparse}, factorized as
X &asymp; W H with {k} components ({solver} solver, {beta_loss} loss).</p>
<table>
{rows}
</table>
<h2>Components (rows of H)</h2>
<img src="components.png" alt="the {k} components (rows of H)">
<h2>Top features per component</h2>
<img src="top_features.png" alt="the heaviest features of each component">
<h2>Convergence</h2>
<img src="convergence.png" alt="objective per iteration">
<p><small>{versions}</small></p>
</body>
</html>
"""


def _summary_rows(summary: dict) -> str:
    numbers = [
        ("iterations", f"{summary['n_iter']} (stopped on {summary['stop_reason']})"),
        ("reconstruction error ‖X − WH‖", f"{summary['reconstruction_err']:.6g}"),
        ("relative error", f"{summary['relative_error']:.4%}"),
        ("time", f"{summary['elapsed_seconds']:.3f} s"),
    ]
    return "\n".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in numbers
    )


def _write_report(
    out: Path, model: Any, summary: dict, args: argparse.Namespace, col_names: Any
) -> list[str]:
    """components.png, top_features.png and report.html (convergence.png exists)."""
    from .plotting import plot_components, plot_top_features

    H = np.asarray(model.components_)
    _save_figure(plot_components(H, args.image_shape), out / "components.png")
    _save_figure(plot_top_features(H, col_names, n_top=args.n_top), out / "top_features.png")
    inp = summary["input"]
    versions = ", ".join(f"{k} {v}" for k, v in _versions().items())
    page = _REPORT_HTML.format(
        title=html.escape(Path(str(args.input)).name),
        n_samples=inp["n_samples"],
        n_features=inp["n_features"],
        sparse=f" (sparse, {inp['nnz']} stored entries)" if inp["sparse"] else "",
        k=H.shape[0],
        solver=html.escape(str(summary["solver"])),
        beta_loss=html.escape(str(args.beta_loss)),
        rows=_summary_rows(summary),
        versions=html.escape(versions),
    )
    atomic_write_text(out / "report.html", page)
    return ["components.png", "top_features.png", "report.html"]


# --------------------------------------------------------------------------- rank


def _rank_options(args: argparse.Namespace) -> dict[str, Any]:
    """The fit options given on the command line (the others keep select_rank's defaults)."""
    given = {
        "beta_loss": args.beta_loss, "solver": args.solver, "init": args.init,
        "max_iter": args.max_iter, "tol": args.tol,
    }
    return {key: value for key, value in given.items() if value is not None}


def _format_table(table: dict[str, np.ndarray], best_k: int) -> str:
    """The criteria per k as aligned text; the best k marked with '*'."""
    cols = list(table)
    cells = [["", *cols]]
    for i, k in enumerate(np.asarray(table["k"]).tolist()):
        row = ["*" if k == best_k else ""]
        for col in cols:
            v = np.asarray(table[col])[i]
            row.append(str(int(v)) if col == "k" else f"{float(v):.6g}")
        cells.append(row)
    widths = [max(len(r[j]) for r in cells) for j in range(len(cells[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths,
                                                                                 strict=True)))
        .rstrip()
        for r in cells
    )


def _cmd_rank(args: argparse.Namespace) -> int:
    from .selection import select_rank

    X, row_names, _ = read_matrix(args.input)
    out = _check_outdir(args.output) if args.output is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sel = select_rank(
            X, args.ks, method=args.method, n_runs=args.n_runs, random_state=args.seed,
            n_jobs=args.n_jobs, holdout=args.holdout, **_rank_options(args),
        )
    _print_warnings(caught, args.quiet)
    if args.quiet:
        print(sel.best_k)
    else:
        print(_format_table(sel.table, sel.best_k))
        print(f"{PROG}: best k = {sel.best_k} ({args.method}: {sel.rule})")
    if out is None:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    record = _json_safe({
        "input": {"path": str(args.input), "n_samples": int(X.shape[0]),
                  "n_features": int(X.shape[1]), "sparse": bool(sp.issparse(X))},
        "method": args.method,
        "ks": [int(k) for k in sel.ks],
        "best_k": int(sel.best_k),
        "rule": sel.rule,
        "options": {"n_runs": args.n_runs, "seed": args.seed, "holdout": args.holdout,
                    **_rank_options(args)},
        "table": {col: np.asarray(v).tolist() for col, v in sel.table.items()},
        "versions": _versions(),
    })
    atomic_write_text(out / "rank.json", json.dumps(record, indent=2) + "\n")
    with atomic_open(out / "rank.csv", "w") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(list(sel.table))
        for i in range(sel.ks.size):
            writer.writerow([
                str(int(v[i])) if col == "k" else repr(float(v[i]))
                for col, v in sel.table.items()
            ])
    written = ["rank.json", "rank.csv"]
    if _has_matplotlib():
        from .plotting import plot_consensus, plot_rank_selection

        _save_figure(plot_rank_selection(sel), out / "rank.png")
        written.append("rank.png")
        if sel.consensus_:
            labels = row_names if row_names is not None and len(row_names) <= 100 else None
            _save_figure(plot_consensus(sel, labels=labels), out / "consensus.png")
            written.append("consensus.png")
    elif not args.quiet:
        print(f"{PROG}: warning: matplotlib is not installed; skipped rank.png", file=sys.stderr)
    _say(args, f"{PROG}: wrote {', '.join(written)} to {out}")
    return 0


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nmfkit demo: NMF of the digits</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 56em; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: 0.2em 1em 0.2em 0; text-align: left; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
<h1>nmfkit demo: NMF of scikit-learn's digits</h1>
<p>{n_samples} images of 8&times;8 pixels, factorized as X &asymp; W H with
{k} components ({solver} solver, {beta_loss} loss).</p>
<table>
{rows}
</table>
<h2>Components (rows of H)</h2>
<img src="components.png" alt="the {k} learned components as 8x8 images">
<h2>Convergence</h2>
<img src="convergence.png" alt="objective per iteration">
<p><small>{versions}</small></p>
</body>
</html>
"""


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"{PROG}: error: the demo needs matplotlib (pip install 'nmfkit[plot]')",
              file=sys.stderr)
        return 1
    from sklearn.datasets import load_digits

    from .plotting import plot_components

    out = _check_outdir(args.output)
    X = load_digits().data
    model, W = _fit(X, args, desc="nmfkit demo")
    out.mkdir(parents=True, exist_ok=True)
    summary = _summary(X, model, W, args, "sklearn.datasets.load_digits")
    _save_figure(plot_components(model.components_, (8, 8)), out / "components.png")
    _write_convergence(model, out / "convergence.png")
    summary["versions"] = _versions()  # now including matplotlib
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")

    rows = _summary_rows(summary)
    versions = ", ".join(f"{k} {v}" for k, v in summary["versions"].items())
    page = _HTML.format(
        n_samples=X.shape[0],
        k=html.escape(str(args.n_components)),
        solver=html.escape(str(summary["solver"])),
        beta_loss=html.escape(str(args.beta_loss)),
        rows=rows,
        versions=html.escape(versions),
    )
    atomic_write_text(out / "index.html", page)
    _say(
        args,
        f"{PROG}: digits {X.shape[0]}x{X.shape[1]}, k={args.n_components}: "
        f"relative error {summary['relative_error']:.4g} after {summary['n_iter']} iterations",
    )
    _say(args, f"{PROG}: wrote the demo report to {out / 'index.html'}")
    return 0


# --------------------------------------------------------------------------- entry


def _error(message: str, status: int) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nmfkit`` command; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 for a bad input file or option, 1 when the fit or
        writing the outputs fails.

    Examples
    --------
    >>> from nmfkit.cli import main
    >>> main(["fit", "no-such-file.csv", "-k", "2", "-o", "out"])  # doctest: +SKIP
    nmfkit: error: no-such-file.csv: file not found
    2
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    command = {"fit": _cmd_fit, "demo": _cmd_demo, "rank": _cmd_rank}[args.command]
    try:
        return command(args)
    except (DataFileError, _UsageError, ValueError, TypeError) as exc:
        return _error(str(exc), 2)
    except FloatingPointError as exc:
        return _error(f"the fit failed: {exc}", 1)
    except OSError as exc:
        return _error(f"cannot write the outputs: {exc}", 1)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
