"""The training paradigms, one module each, and the registry the trainer picks one from (`algo.algorithm`)."""

from __future__ import annotations

from sparring.config import PREFERENCE_LOSSES, VALUE_ADVANTAGES, Config
from sparring.training.algorithms.base import Algorithm, Batch, Context
from sparring.training.algorithms.exact import Exact
from sparring.training.algorithms.policy_gradient import PolicyGradient
from sparring.training.algorithms.preference import Preference
from sparring.training.algorithms.sampled import Sampled
from sparring.training.algorithms.spear import Spear
from sparring.training.algorithms.warm_start import WarmStart

ALGORITHMS: dict[str, type[Algorithm]] = {
    "policy_gradient": PolicyGradient,
    "exact": Exact,
    "sampled": Sampled,
    "preference": Preference,
    "spear": Spear,
}


def algorithm_name(cfg: Config) -> str:
    """`algo.algorithm`, or when unset the paradigm `algo.loss` and `algo.advantage` imply."""
    if cfg.algo.algorithm:
        return cfg.algo.algorithm
    if cfg.algo.loss in PREFERENCE_LOSSES:
        return "preference"
    return cfg.algo.advantage if cfg.algo.advantage in VALUE_ADVANTAGES else "policy_gradient"


def algorithm_class(cfg: Config) -> type[Algorithm]:
    return ALGORITHMS[algorithm_name(cfg)]


__all__ = ["ALGORITHMS", "Algorithm", "Batch", "Context", "WarmStart", "algorithm_class", "algorithm_name"]
