"""Solver registry with capability flags.

Every solver registers itself with the losses it minimises, whether it
accepts sparse ``X``, entry weights and penalties. A single check
(:func:`check_solver`) turns an unsupported combination into a clear error
that names the solvers which do support it; the documentation's
compatibility table is generated from the same flags
(:func:`compatibility_table`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..exceptions import IncompatibleOptionsError

__all__ = [
    "SolverSpec",
    "register_solver",
    "get_solver",
    "list_solvers",
    "check_solver",
    "auto_solver",
    "compatibility_table",
]

ANY_BETA = "any"

#: How errors name the structured penalties (the rest read "the <name> penalty").
_PENALTY_TEXT = {
    "sparseness": "sparseness constraints (sparseness_W/sparseness_H)",
    "graph": "the graph-Laplacian penalty (graph=/graph_neighbors)",
    "tv": "the total-variation penalty (tv_H)",
}


@dataclass(frozen=True)
class SolverSpec:
    name: str
    func: Callable[..., Any]
    losses: tuple[str, ...] | str  # ("frobenius",) or "any"
    sparse: bool = True
    weights: bool = False
    weight_losses: tuple[str, ...] | str = ()
    penalties: tuple[str, ...] = ("l1", "l2")
    description: str = ""
    weight_method: str = ""
    array_api: bool = False
    overwrite_input: bool = False

    def supports_beta(self, beta: float) -> bool:
        if self.losses == ANY_BETA:
            return True
        return _beta_name(beta) in self.losses

    def supports_weights(self, beta: float) -> bool:
        if not self.weights:
            return False
        if self.weight_losses == ANY_BETA:
            return True
        return _beta_name(beta) in (self.weight_losses or self.losses)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "losses": "any beta" if self.losses == ANY_BETA else list(self.losses),
            "sparse": self.sparse,
            "weights": self.weights,
            "weight_losses": (
                "any beta" if self.weight_losses == ANY_BETA else list(self.weight_losses)
            ),
            "penalties": list(self.penalties),
            "description": self.description,
            "weight_method": self.weight_method,
            "array_api": self.array_api,
        }


_REGISTRY: dict[str, SolverSpec] = {}


def _beta_name(beta: float) -> str:
    return {2.0: "frobenius", 1.0: "kullback-leibler", 0.0: "itakura-saito"}.get(
        float(beta), f"beta={beta:g}"
    )


def register_solver(
    name: str,
    *,
    losses: tuple[str, ...] | str,
    sparse: bool = True,
    weights: bool = False,
    weight_losses: tuple[str, ...] | str = (),
    penalties: tuple[str, ...] = ("l1", "l2"),
    description: str = "",
    weight_method: str = "",
    array_api: bool = False,
    overwrite_input: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a solver function under ``name``.

    ``weight_method`` says how the solver handles entry weights and at what
    cost (it goes into the generated compatibility table). ``array_api``:
    the solver also runs on non-NumPy arrays (PyTorch, CuPy, ...).
    ``overwrite_input``: the solver takes ``overwrite_input=True``, which lets
    it work in the memory of the starting W and H (the fit's entry point
    passes it for the starts it made itself; the default copies them).
    """

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY[name] = SolverSpec(
            name, func, losses, sparse, weights, weight_losses, penalties, description,
            weight_method, array_api, overwrite_input,
        )
        return func

    return deco


def _ensure_loaded() -> None:
    # Importing the package registers the built-in solvers.
    from . import _builtin  # noqa: F401


def get_solver(name: str) -> SolverSpec:
    """Look a solver up by name (clear error listing the valid names)."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(repr(n) for n in sorted(_REGISTRY)) + ", 'auto'"
        raise ValueError(f"unknown solver {name!r}; valid solvers are {valid}") from None


#: Listing order of the built-in solvers (registration order depends on imports).
_ORDER = ("hals", "mu", "anls_bpp", "active_set", "pgd", "nesterov", "admm", "nmfsc")


def _ordered() -> list[SolverSpec]:
    rank = {n: i for i, n in enumerate(_ORDER)}
    return sorted(_REGISTRY.values(), key=lambda s: (rank.get(s.name, len(rank)), s.name))


def list_solvers() -> list[dict[str, Any]]:
    """The registry as a list of dicts (name, losses, sparse, weights, penalties, ...).

    Examples
    --------
    >>> import nmfkit
    >>> "hals" in [s["name"] for s in nmfkit.list_solvers()]
    True
    """
    _ensure_loaded()
    return [spec.as_dict() for spec in _ordered()]


def check_solver(
    name: str,
    *,
    beta: float,
    sparse: bool = False,
    weights: bool = False,
    penalties: tuple[str, ...] = (),
    array_api: bool = False,
) -> SolverSpec:
    """Return the spec for ``name`` or raise naming the solvers that would work.

    ``array_api=True``: the data is a non-NumPy array (PyTorch, CuPy, ...).
    """
    spec = get_solver(name)
    problems = []
    if not spec.supports_beta(beta):
        problems.append(f"the {_beta_name(beta)} loss")
    if sparse and not spec.sparse:
        problems.append("sparse input")
    if weights and not spec.supports_weights(beta):
        problems.append(f"weights with the {_beta_name(beta)} loss")
    for p in penalties:
        if p not in spec.penalties:
            problems.append(_PENALTY_TEXT.get(p, f"the {p} penalty"))
    if array_api and not spec.array_api:
        problems.append("non-NumPy arrays (PyTorch, CuPy, ...)")
    if problems:
        ok = [
            s.name
            for s in _ordered()
            if s.supports_beta(beta)
            and (s.sparse or not sparse)
            and (not weights or s.supports_weights(beta))
            and all(p in s.penalties for p in penalties)
            and (s.array_api or not array_api)
        ]
        alt = ", ".join(repr(n) for n in ok) if ok else "none"
        raise IncompatibleOptionsError(
            f"solver {name!r} does not support {' and '.join(problems)}; "
            f"solvers that do: {alt}"
        )
    return spec


def auto_solver(
    beta: float, *, sparse: bool = False, weights: bool = False, penalties: tuple[str, ...] = ()
) -> str:
    """The solver ``solver="auto"`` picks.

    * sparseness constraints (``"sparseness"`` in ``penalties``): ``"nmfsc"``.
    * a graph or total-variation penalty (``"graph"``/``"tv"``): ``"mu"``.
    * Frobenius (β = 2): ``"hals"`` (with inner repetitions): first to the
      1e-2 target in every case of the quick benchmark, but not yet to 1e-3
      on small dense data (see benchmarks/results.md).
    * every other β: ``"mu"``, the solver for general β-divergences (``"admm"``
      also handles KL).
    """
    _ensure_loaded()
    if "sparseness" in penalties:
        return "nmfsc"
    if "graph" in penalties or "tv" in penalties:
        return "mu"
    if beta == 2:
        return "hals"
    return "mu"


def compatibility_table() -> str:
    """Markdown table of solver capabilities, generated from the flags.

    The README's table is this function's output (a test checks they agree).
    """
    _ensure_loaded()
    lines = [
        "| solver | losses | sparse X | weights | weighted path (cost per iteration) "
        "| penalties | PyTorch/CuPy | description |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in list_solvers():
        losses = d["losses"] if isinstance(d["losses"], str) else ", ".join(d["losses"])
        if d["weights"]:
            wl = d["weight_losses"]
            w = "yes (" + (wl if isinstance(wl, str) else ", ".join(wl) or losses) + ")"
        else:
            w = "no"
        lines.append(
            f"| `{d['name']}` | {losses} | {'yes' if d['sparse'] else 'no'} | {w} | "
            f"{d['weight_method'] or '—'} | {', '.join(d['penalties'])} | "
            f"{'yes' if d['array_api'] else 'no'} | {d['description']} |"
        )
    return "\n".join(lines)
