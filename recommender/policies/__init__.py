"""Bandit policies behind one interface, built by name from the one registry."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from recommender.policies.base import ArmEstimate, Choice, Policy
from recommender.policies.contextual import Contextual
from recommender.policies.egreedy import EpsilonGreedy
from recommender.policies.thompson import Thompson
from recommender.policies.ucb1 import UCB1
from recommender.policies.uniform import Uniform


@dataclass(frozen=True)
class Registered:
    """A policy class and the settings that tune it (constructor parameter -> Django setting)."""

    cls: type
    tuned_by: Mapping[str, str] = field(default_factory=dict)


# The one list of policy names: settings, the system check, serving and the commands all read it.
POLICIES: dict[str, Registered] = {
    "contextual": Registered(Contextual),
    "egreedy": Registered(EpsilonGreedy, {"epsilon": "TIPS_EPSILON"}),
    "thompson": Registered(Thompson),
    "ucb1": Registered(UCB1),
    "uniform": Registered(Uniform),
}


def _registered(name: str) -> Registered:
    try:
        return POLICIES[name]
    except KeyError:
        raise KeyError(f"Unknown policy {name!r}; known: {', '.join(sorted(POLICIES))}") from None


def get_policy(name: str, **params: Any) -> Policy:
    """Return the policy called `name`, built with `params` only; KeyError names the known ones."""
    return _registered(name).cls(**params)


def policy_settings(name: str) -> dict[str, Any]:
    """Return the constructor parameters the settings give the policy called `name` (e.g. egreedy's epsilon)."""
    return {param: getattr(settings, setting) for param, setting in _registered(name).tuned_by.items()}


__all__ = ["POLICIES", "ArmEstimate", "Choice", "Policy", "get_policy", "policy_settings"]
