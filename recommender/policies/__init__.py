"""Bandit policies behind one interface, looked up by name."""

from typing import Any

from recommender.policies.base import ArmEstimate, Choice, Policy
from recommender.policies.egreedy import EpsilonGreedy
from recommender.policies.thompson import Thompson
from recommender.policies.ucb1 import UCB1
from recommender.policies.uniform import Uniform

POLICIES: dict[str, type] = {"egreedy": EpsilonGreedy, "thompson": Thompson, "ucb1": UCB1, "uniform": Uniform}


def get_policy(name: str, **params: Any) -> Policy:
    """Return the policy called `name`, built with `params`; KeyError names the known ones."""
    try:
        cls = POLICIES[name]
    except KeyError:
        raise KeyError(f"Unknown policy {name!r}; known: {', '.join(sorted(POLICIES))}") from None
    return cls(**params)


__all__ = ["POLICIES", "ArmEstimate", "Choice", "Policy", "get_policy"]
