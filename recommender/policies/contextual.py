"""The contextual policy: Vowpal Wabbit's cb_explore_adf scores every candidate from its own features.

VW gives, for the candidates still unpicked, a probability mass function (SquareCB: the better a candidate's
predicted reward, the likelier it is picked; nothing falls to zero). The slate is drawn position by position
from those PMFs with the injected rng, so each pick's propensity is exactly the probability it was drawn with.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generation.candidates import TipCandidate
from recommender.policies.base import ArmEstimate, Choice, ServedSlate, slate_offers
from recommender.policies.features import action_lines, shared_line

# Kind crossed with the shared context (k x s), the candidate's own features (k x a) and the user (k x u).
VW_ARGUMENTS = "--cb_explore_adf --squarecb --gamma_scale 1000 -q ks -q ka -q ku --coin --noconstant --quiet"
# Passes over each training window (a trainer run's newly finalized picks, in order): one pass leaves a young
# model's early rounds far from what their data says (docs/benchmarks.md, "Contextual ranking"), more cost CPU in
# the trainer only. Every row is learned exactly this many times, whatever the trainer's cadence.
TRAINING_PASSES = 3
# At most this many picks held in memory as one window: a longer trainer run learns them window by window.
TRAINING_WINDOW_ROWS = 20_000
# Parsed candidate examples kept per model for reuse by later requests (pools repeat all day); past this many
# distinct lines the cache starts again.
PARSED_ACTIONS_KEPT = 4096


# One logged pick as the model learns it: shared line, offered action lines, the chosen one's index, its reward
# and the probability it was chosen with.
Pick = tuple[str, Sequence[str], int, float, float]


def _workspace(extra: str = "") -> Any:
    import vowpalwabbit  # only the contextual policy needs it (~0.1 s to import)

    return vowpalwabbit.Workspace(f"{VW_ARGUMENTS} {extra}".strip())


class ContextualModel:
    """One VW workspace: predicts PMFs, learns from logged picks, and saves to and loads from bytes."""

    def __init__(
        self, workspace: Any | None = None, version: int | None = None, parsed_kept: int = PARSED_ACTIONS_KEPT
    ) -> None:
        self.workspace = workspace if workspace is not None else _workspace()
        self.version = version
        self.parsed_kept = parsed_kept
        # A VW workspace is not safe for concurrent calls; gunicorn threads share one per process.
        self._lock = threading.Lock()
        # (action line, its occurrence in a request) -> the parsed VW example, reused across requests.
        self._parsed: dict[tuple[str, int], Any] = {}

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
        return np.asarray(pmf)

    def slate_pmfs(self, shared: str, actions: Sequence[str], subsets: Iterable[list[int]]) -> Iterator[list[float]]:
        """The PMF over each subset of `actions` in turn (a slate's remaining candidates).

        A generator: the caller may pick from one PMF before it says which subset comes next. Parsing is most
        of VW's cost, so each distinct action line is parsed once and its example reused by every later
        request (predicting does not change an example); only the shared line is parsed per request. The
        prediction calls VW's extension (`pylibvw`) directly on examples already set up: `Workspace.predict`
        wraps that same call in type checks and a lookup of the prediction type, about a third of its cost.
        """
        import pylibvw  # VW's extension module, which vowpalwabbit.pyvw wraps
        import vowpalwabbit

        with self._lock:
            (context,) = self.workspace.parse(shared, vowpalwabbit.LabelType.CONTEXTUAL_BANDIT)
            try:
                examples = self._action_examples(actions)
                for subset in subsets:
                    multi = [context, *(examples[i] for i in subset)]
                    pylibvw.vw.predict_multi(self.workspace, multi)
                    raw = context.get_action_scores()  # cb_explore_adf's PMF, in the order of the actions
                    total = math.fsum(raw)  # in plain floats: for 20 values NumPy's call overhead is the cost
                    yield [p / total for p in raw]
            finally:
                self.workspace.finish_example([context])

    def _action_examples(self, actions: Sequence[str]) -> list[Any]:
        """The parsed example of each action line, parsing only the lines not seen before (under the lock).

        A line that occurs twice in one request gets a second example: VW must never see one example twice
        in a multi-example (its PMF then sums to less than 1).
        """
        import vowpalwabbit

        seen: dict[str, int] = {}
        keys = []
        for line in actions:
            keys.append((line, seen.get(line, 0)))
            seen[line] = seen.get(line, 0) + 1
        missing = [key for key in keys if key not in self._parsed]
        if missing and len(self._parsed) + len(missing) > self.parsed_kept:
            self._release_parsed()
            missing = keys
        for key in missing:
            (self._parsed[key],) = self.workspace.parse(key[0], vowpalwabbit.LabelType.CONTEXTUAL_BANDIT)
        return [self._parsed[key] for key in keys]

    def _release_parsed(self) -> None:
        """Hand the kept examples back to VW (under the lock) as one multi-example behind a shared one.

        Finishing an action example alone, as a multi-example of one, crashes VW (a segmentation fault) once
        the model has learned; behind a shared example and a prediction it is what VW's own multi-examples do.
        """
        import vowpalwabbit

        if not self._parsed:
            return
        (context,) = self.workspace.parse("shared |s", vowpalwabbit.LabelType.CONTEXTUAL_BANDIT)
        kept = [context, *self._parsed.values()]
        self.workspace.predict(kept)
        self.workspace.finish_example(kept)
        self._parsed.clear()

    def learn_window(self, picks: Sequence[Pick], passes: int = TRAINING_PASSES) -> None:
        """Learn from a window of logged picks, `passes` times over it in order."""
        for _ in range(passes):
            for pick in picks:
                self.learn(*pick)

    def learn(self, shared: str, actions: Sequence[str], chosen: int, reward: float, probability: float) -> None:
        """Learn from one logged pick among `actions`: VW minimises cost, so the cost is minus the reward."""
        lines = [shared, *actions]
        lines[chosen + 1] = f"0:{-reward:.6f}:{probability:.9f} {actions[chosen]}"
        with self._lock:
            self.workspace.learn(lines)


def _inverse_cdf(pmf: Sequence[float], u: float) -> int:
    """The index one uniform draw `u` picks from `pmf`: what rng.choice(p=pmf) does, at a fraction of its cost."""
    cumulative = 0.0
    for index, p in enumerate(pmf):
        cumulative += p
        if u < cumulative:
            return index
    return len(pmf) - 1  # u above a cumulative sum rounded just below 1


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
        remaining, picked = list(range(len(candidates))), []
        chosen: list[Choice] = []

        def subsets() -> Iterator[list[int]]:  # each position's candidates, known once the one before is picked
            while remaining and len(chosen) < k:
                yield remaining

        for pmf in self.model.slate_pmfs(shared_line(candidates, stats), action_lines(candidates), subsets()):
            drawn = _inverse_cdf(pmf, rng.random())
            pick = remaining[drawn]
            chosen.append(Choice(candidates[pick], pmf[drawn], pmf[drawn]))
            picked.append(pick)
            remaining = slate_offers(candidates, picked)
        return chosen

    def learn_window(self, slates: Sequence[ServedSlate]) -> None:
        """Learn from slates finalized together: each position's pick among the candidates left at that position."""
        picks: list[Pick] = []
        for candidates, stats, choices, rewards in slates:
            shared, lines = shared_line(candidates, stats), action_lines(candidates)
            picked: list[int] = []
            for choice, reward in zip(choices, rewards, strict=True):
                index, remaining = candidates.index(choice.candidate), slate_offers(candidates, picked)
                picks.append((shared, [lines[i] for i in remaining], remaining.index(index), reward, choice.propensity))
                picked.append(index)
        self.model.learn_window(picks)
