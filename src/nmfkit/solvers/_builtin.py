"""Import the built-in solver modules so they register themselves."""

from . import hals, mu  # noqa: F401

for _mod in ("anls", "pgd", "nesterov", "admm", "nmfsc"):
    try:
        __import__(f"{__package__}.{_mod}")
    except ModuleNotFoundError as exc:  # pragma: no cover - during development only
        if exc.name != f"{__package__}.{_mod}":
            raise
