"""Logged slates as NumPy arrays, built from a stream of served-tip rows (from tip_scores or the simulator).

A request is usable only when it is complete: it has its candidate set, every served tip has a propensity
and a final reward, and every pick was among the candidates still left at its position. Anything else is
skipped as a whole request and counted by reason, never guessed (docs/adr/0052).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

LEGACY = "legacy"  # no candidate set or no propensity: logged before offline evaluation existed
PENDING = "pending"  # a reward is not final yet (its window is open)
INCONSISTENT = "inconsistent"  # a pick that was not among the remaining candidates, or a repeated position


class LoggedRow(NamedTuple):
    """One served tip as the evaluator reads it (the order of `selectors.LOGGED_ROW_FIELDS`)."""

    request_id: int
    request_time: float
    user_id: int
    logging_policy: str
    candidate_arms: Sequence[str] | None
    position: int
    arm: str
    propensity: float | None
    reward: float | None
    final: bool
    segment: Any = None


@dataclass
class LoggedSlates:
    """Usable requests (R) and their served tips (n rows, grouped by request in position order)."""

    arms: list[str]
    request_time: np.ndarray
    request_user: np.ndarray
    candidate_counts: np.ndarray  # (R, A): how many candidates of each arm were offered
    row_request: np.ndarray
    row_position: np.ndarray
    row_arm: np.ndarray
    row_propensity: np.ndarray
    row_reward: np.ndarray
    row_segment: list[Any]
    skipped: Counter[str] = field(default_factory=Counter)
    logging_policies: Counter[str] = field(default_factory=Counter)

    @property
    def n_requests(self) -> int:
        return len(self.request_time)

    @property
    def n_rows(self) -> int:
        return len(self.row_request)

    def arm_index(self) -> dict[str, int]:
        return {arm: i for i, arm in enumerate(self.arms)}


class SlateBuilder:
    """Accumulates rows request by request into compact arrays (rows must arrive grouped by request)."""

    def __init__(self, arms: Iterable[str] = ()) -> None:
        self.arm_ids: dict[str, int] = {}
        for arm in arms:
            self.arm_id(arm)
        self.request_time = array("d")
        self.request_user = array("q")
        self.candidate_rows: list[dict[int, int]] = []
        self.row_request, self.row_position, self.row_arm = array("q"), array("h"), array("l")
        self.row_propensity, self.row_reward = array("d"), array("d")
        self.row_segment: list[Any] = []
        self.skipped: Counter[str] = Counter()
        self.logging_policies: Counter[str] = Counter()
        self._pending: list[LoggedRow] = []

    def arm_id(self, arm: str) -> int:
        """Return the index of `arm`, adding it if new (events may name arms no candidate set has)."""
        return self.arm_ids.setdefault(arm, len(self.arm_ids))

    def add(self, row: LoggedRow) -> None:
        if self._pending and self._pending[0].request_id != row.request_id:
            self._flush()
        self._pending.append(row)

    def extend(self, rows: Iterable[LoggedRow | tuple]) -> SlateBuilder:
        for row in rows:
            self.add(row if isinstance(row, LoggedRow) else LoggedRow(*row))
        return self

    def _problem(self, rows: list[LoggedRow]) -> str | None:
        first = rows[0]
        if not first.candidate_arms or any(r.propensity is None or r.propensity <= 0 for r in rows):
            return LEGACY
        if any(not r.final or r.reward is None for r in rows):
            return PENDING
        left = Counter(first.candidate_arms)
        positions = [r.position for r in rows]
        if len(set(positions)) != len(positions):
            return INCONSISTENT
        for r in rows:
            if left[r.arm] <= 0:
                return INCONSISTENT
            left[r.arm] -= 1
        return None

    def _flush(self) -> None:
        rows, self._pending = sorted(self._pending, key=lambda r: r.position), []
        problem = self._problem(rows)
        if problem:
            self.skipped[problem] += len(rows)
            return
        first = rows[0]
        request = len(self.request_time)
        self.request_time.append(first.request_time)
        self.request_user.append(first.user_id)
        self.logging_policies[first.logging_policy] += 1
        offered: dict[int, int] = {}
        for arm in first.candidate_arms:
            index = self.arm_id(arm)
            offered[index] = offered.get(index, 0) + 1
        self.candidate_rows.append(offered)
        for r in rows:
            self.row_request.append(request)
            self.row_position.append(r.position)
            self.row_arm.append(self.arm_id(r.arm))
            self.row_propensity.append(r.propensity)
            self.row_reward.append(r.reward)
            self.row_segment.append(r.segment)

    def build(self) -> LoggedSlates:
        if self._pending:
            self._flush()
        counts = np.zeros((len(self.candidate_rows), len(self.arm_ids)), dtype=np.int32)
        for request, offered in enumerate(self.candidate_rows):
            for arm, n in offered.items():
                counts[request, arm] = n
        return LoggedSlates(
            arms=list(self.arm_ids),
            request_time=np.frombuffer(self.request_time, dtype=float).copy(),
            request_user=np.frombuffer(self.request_user, dtype=np.int64).copy(),
            candidate_counts=counts,
            row_request=np.frombuffer(self.row_request, dtype=np.int64).copy(),
            row_position=np.frombuffer(self.row_position, dtype=np.int16).copy(),
            row_arm=np.asarray(self.row_arm, dtype=np.int64),
            row_propensity=np.frombuffer(self.row_propensity, dtype=float).copy(),
            row_reward=np.frombuffer(self.row_reward, dtype=float).copy(),
            row_segment=self.row_segment,
            skipped=self.skipped,
            logging_policies=self.logging_policies,
        )
