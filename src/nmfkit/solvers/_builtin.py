"""Import the built-in solver modules so they register themselves."""

from . import admm, anls, hals, mu, nesterov, nmfsc, pgd  # noqa: F401
