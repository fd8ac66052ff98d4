"""Losses: the β-divergence family and the penalty terms."""

from .beta import (
    BETA_NAMES,
    EPSILON,
    GRAM_LOSS_FLOOR,
    beta_divergence,
    check_beta_data,
    frobenius_direct,
    frobenius_from_grams,
    frobenius_gram_or_direct,
    resolve_beta,
)
from .penalties import Penalties

__all__ = [
    "BETA_NAMES",
    "EPSILON",
    "GRAM_LOSS_FLOOR",
    "frobenius_direct",
    "Penalties",
    "beta_divergence",
    "check_beta_data",
    "frobenius_from_grams",
    "frobenius_gram_or_direct",
    "resolve_beta",
]
