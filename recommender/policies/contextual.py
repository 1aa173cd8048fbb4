"""The contextual policy: Vowpal Wabbit's cb_explore_adf scores every candidate from its own features.

VW gives, for the candidates still unpicked, a probability mass function (SquareCB: the better a candidate's
predicted reward, the likelier it is picked; nothing falls to zero). The slate is drawn position by position
from those PMFs with the injected rng, so each pick's propensity is exactly the probability it was drawn with.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generation.candidates import TipCandidate
from recommender.policies.base import ArmEstimate, Choice
from recommender.policies.features import action_lines, shared_line

# Kind crossed with the shared context (k x s) and with the candidate's own features (k x a).
VW_ARGUMENTS = "--cb_explore_adf --squarecb --gamma_scale 1000 -q ks -q ka --coin --noconstant --quiet"


def _workspace(extra: str = "") -> Any:
    import vowpalwabbit  # only the contextual policy needs it (~0.1 s to import)

    return vowpalwabbit.Workspace(f"{VW_ARGUMENTS} {extra}".strip())


class ContextualModel:
    """One VW workspace: predicts PMFs, learns from logged picks, and saves to and loads from bytes."""

    def __init__(self, workspace: Any | None = None, version: int | None = None) -> None:
        self.workspace = workspace if workspace is not None else _workspace()
        self.version = version
        # A VW workspace is not safe for concurrent calls; gunicorn threads share one per process.
        self._lock = threading.Lock()

    @classmethod
    def from_bytes(cls, data: bytes, version: int | None = None) -> ContextualModel:
        """Load a model saved by `to_bytes`; raises ValueError when VW cannot read it."""
        with tempfile.NamedTemporaryFile(suffix=".vw") as saved:
            saved.write(data)
            saved.flush()
            try:
                workspace = _workspace(f"--initial_regressor {saved.name}")
            except RuntimeError as exc:  # VW reports an unreadable file as a RuntimeError
                raise ValueError(f"Not a readable VW model: {exc}") from exc
        return cls(workspace, version)

    def to_bytes(self) -> bytes:
        fd, path = tempfile.mkstemp(suffix=".vw")
        os.close(fd)
        try:
            with self._lock:
                self.workspace.save(path)
            with open(path, "rb") as saved:
                return saved.read()
        finally:
            os.unlink(path)

    def pmf(self, shared: str, actions: Sequence[str]) -> np.ndarray:
        """The probability of picking each action, normalised in float64 (VW answers in float32)."""
        (pmf,) = self.slate_pmfs(shared, actions, [list(range(len(actions)))])
        return pmf

    def slate_pmfs(self, shared: str, actions: Sequence[str], subsets: Iterable[list[int]]) -> Iterator[np.ndarray]:
        """The PMF over each subset of `actions` in turn (a slate's remaining candidates), parsing the text once.

        A generator: the caller may pick from one PMF before it says which subset comes next. Parsing is most
        of VW's cost, so three positions cost about one parse and three predictions.
        """
        with self._lock:
            examples = self.workspace.parse([shared, *actions])
            try:
                for subset in subsets:
                    raw = self.workspace.predict([examples[0], *(examples[i + 1] for i in subset)])
                    pmf = np.asarray(raw, dtype=float)
                    yield pmf / pmf.sum()
            finally:
                self.workspace.finish_example(examples)

    def learn(self, shared: str, actions: Sequence[str], chosen: int, reward: float, probability: float) -> None:
        """Learn from one logged pick among `actions`: VW minimises cost, so the cost is minus the reward."""
        lines = [shared, *actions]
        lines[chosen + 1] = f"0:{-reward:.6f}:{probability:.9f} {actions[chosen]}"
        with self._lock:
            self.workspace.learn(lines)


@dataclass
class Contextual:
    """Scores each candidate from the request's context and its own features, and explores by SquareCB."""

    model: ContextualModel = field(default_factory=ContextualModel)
    name: str = "contextual"

    def params(self) -> dict[str, Any]:
        return {"model_version": self.model.version, "vw": VW_ARGUMENTS}

    def choose(
        self,
        candidates: Sequence[TipCandidate],
        stats: Mapping[str, ArmEstimate],
        rng: np.random.Generator,
        k: int,
    ) -> list[Choice]:
        remaining = list(range(len(candidates)))
        chosen: list[Choice] = []
        subsets = (remaining for _ in range(min(k, len(candidates))))  # re-read after each pick
        for pmf in self.model.slate_pmfs(shared_line(candidates, stats), action_lines(candidates), subsets):
            # Inverse CDF of one uniform draw: what rng.choice(p=pmf) does, at a fifth of its overhead.
            drawn = min(int(np.searchsorted(np.cumsum(pmf), rng.random(), "right")), len(pmf) - 1)
            pick = remaining.pop(drawn)
            chosen.append(Choice(candidates[pick], float(pmf[drawn]), float(pmf[drawn])))
        return chosen

    def learn(
        self,
        candidates: Sequence[TipCandidate],
        stats: Mapping[str, ArmEstimate],
        choices: Sequence[Choice],
        rewards: Sequence[float],
    ) -> None:
        """Learn from one served slate: each position's pick among the candidates left at that position."""
        shared, lines = shared_line(candidates, stats), action_lines(candidates)
        remaining = list(range(len(candidates)))
        for choice, reward in zip(choices, rewards, strict=True):
            index = candidates.index(choice.candidate)
            offered = [lines[i] for i in remaining]
            self.model.learn(shared, offered, remaining.index(index), reward, choice.propensity)
            remaining.remove(index)
