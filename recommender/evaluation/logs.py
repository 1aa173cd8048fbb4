"""Logged slates as NumPy arrays, built from a stream of served-tip rows (from tip_scores or the simulator).

A request is usable only when it is complete: it has its candidate set, every served tip has a propensity
and a final reward, and every pick was among the candidates still left at its position. Anything else is
skipped as a whole request and counted by reason, never guessed (docs/adr/0052).
"""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

import numpy as np

LEGACY = "legacy"  # no candidate set or no propensity: logged before offline evaluation existed
PENDING = "pending"  # a reward is not final yet (its window is open)
INCONSISTENT = "inconsistent"  # a pick that was not among the remaining candidates, or a repeated position
# What each skip reason means for the reader of `evaluate_policy` (a skipped request skips all its tips).
SKIP_REASONS = {
    LEGACY: "logged without its candidate set or a propensity (served before offline evaluation existed); "
    "backfill_tip_scores recovers what the logged request allows",
    PENDING: "a reward is not final yet: its reward window (TIPS_REWARD_WINDOW_H) is still open and no "
    "terminal feedback closed it; finalize_rewards closes expired windows",
    INCONSISTENT: "the log contradicts itself: a served tip whose arm was not among the candidates left at its "
    "position, or two tips at one position; such a request cannot be weighed",
}


def explain_skipped(skipped: dict[str, int]) -> list[str]:
    """One line per skip reason: how many tips, and what the reason means."""
    return [f"  {n:>7} {reason}: {SKIP_REASONS.get(reason, reason)}" for reason, n in sorted(skipped.items())]


class LoggedRow(NamedTuple):
    """One served tip as the evaluator reads it: the column order of `selectors.logged_rows`' query."""

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
    # What the logging policy decided from: arm -> (count, reward_sum), or (from the database) the text
    # "count,sum,count,sum,..." for the builder's first arms in their order.
    estimates: Any = None
    segment: Any = None
    # With the first row only: the candidates left out of a position although not picked yet (about a task the
    # slate already had), as (position, arm) pairs, or (from the database) JSON text [[positions]..., arms...].
    dropped: Any = None


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
    request_policy: np.ndarray  # the logging policy's name, per request
    # The arm estimates each request logged (count, reward_sum: (R, A)), where `has_estimates` says it did.
    logged_count: np.ndarray
    logged_sum: np.ndarray
    has_estimates: np.ndarray
    # Candidates left out of one position (a task an earlier pick had): request, position, arm.
    drop_request: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    drop_position: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    drop_arm: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    skipped: Counter[str] = field(default_factory=Counter)
    logging_policies: Counter[str] = field(default_factory=Counter)

    @property
    def n_requests(self) -> int:
        return len(self.request_time)

    @property
    def n_rows(self) -> int:
        return len(self.row_request)


# Brackets, quotes and spaces of a JSON array of arm names (arm names have none of them).
_JSON_PUNCTUATION = str.maketrans("", "", '[]" ')


def _floats(values: tuple) -> tuple | list:
    """The column as floats, None (not logged, not final) as NaN; the scan for None runs in C."""
    return [math.nan if v is None else v for v in values] if None in values else values


def _earlier_same_arm(group: np.ndarray, rank: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """For each row, how many earlier rows of its request picked the same arm (slates are short: loop on rank)."""
    earlier = np.zeros(len(arm), dtype=np.int64)
    for back in range(1, int(rank.max(initial=0)) + 1):
        rows = np.flatnonzero(rank >= back)
        earlier[rows] += arm[rows - back] == arm[rows]
    return earlier


class SlateBuilder:
    """Collects rows (grouped by request, in position order) as compact columns; `build` validates them vectorised.

    Arms may come as names or as indices into `arms` (the database query computes them); candidate sets as
    lists of names, one comma-separated string or a JSON array of names, all stored as arm indices in flat
    arrays.
    """

    CHUNK = 20_000

    def __init__(self, arms: Iterable[str] = ()) -> None:
        self.arm_ids: dict[str, int] = {}
        for arm in arms:
            self.arm_id(arm)
        self._ids, self._times, self._users = array("q"), array("d"), array("q")
        self._positions, self._arms, self._policies = array("q"), array("q"), array("q")
        self._propensities, self._rewards, self._finals = array("d"), array("d"), array("b")
        self._offered, self._offered_sizes = array("q"), array("q")  # flat arm indices, and how many per row
        self._policy_ids: dict[str, int] = {}
        self._segments: list[Any] = []
        # Logged estimates, flat: the row they came with (a request's first), arm, count and reward sum; and
        # every row that came with estimates (an empty mapping too: decided before any reward).
        self._logged_rows = array("q")
        self._estimate_rows, self._estimate_arms = array("q"), array("q")
        self._estimate_counts, self._estimate_sums = array("d"), array("d")
        self._estimate_blocks: list[tuple[np.ndarray, np.ndarray]] = []  # (rows, (rows, 2 x arms)) from text
        self._drop_rows, self._drop_positions, self._drop_arms = array("q"), array("q"), array("q")

    def arm_id(self, arm: str) -> int:
        """Return the index of `arm`, adding it if new (events may name arms no candidate set has)."""
        return self.arm_ids.setdefault(arm, len(self.arm_ids))

    def _arm_ids(self, names: Sequence[str]) -> list[int]:
        try:  # the common case, every name known: one C-level map
            return list(map(self.arm_ids.__getitem__, names))
        except KeyError:
            return [self.arm_id(a) for a in names]

    def extend(self, rows: Iterable[LoggedRow | tuple], *, segments: bool = True) -> SlateBuilder:
        """Add rows; `segments=False` drops the segment column (nothing to split by)."""
        iterator = iter(rows)
        while chunk := list(islice(iterator, self.CHUNK)):
            self.add_chunk(chunk, segments=segments)
        return self

    def add_chunk(self, chunk: Sequence[tuple], *, segments: bool = True) -> None:
        """Append a chunk of rows column by column (C-level loops; names mapped once per chunk)."""
        columns = zip(*chunk, strict=True)
        ids, times, users, policies, offered, positions, arms, props, rewards, finals, estimates, labels, drops = (
            columns
        )
        self._add_drops(len(self._ids), drops)
        self._add_estimates(len(self._ids), estimates)
        self._ids.extend(ids)
        self._times.extend(times)
        self._users.extend(users)
        self._positions.extend(positions)
        self._arms.extend(arms if isinstance(arms[0], int) else self._arm_ids(arms))
        self._propensities.extend(_floats(props))
        self._rewards.extend(_floats(rewards))
        self._finals.extend(finals)
        policy_ids = self._policy_ids
        for policy in set(policies):
            policy_ids.setdefault(policy, len(policy_ids))
        self._policies.extend(map(policy_ids.__getitem__, policies))
        if set(map(type, offered)) <= {str, type(None)}:
            # From the database, text once per request (None on later rows): a JSON array of names or
            # comma-separated names. One join, one translate, one split for the whole chunk.
            texts = [o if o and o != "[]" else None for o in offered]
            self._offered_sizes.extend([o.count(",") + 1 if o else 0 for o in texts])
            joined = ",".join(filter(None, texts)).translate(_JSON_PUNCTUATION)
            self._offered.extend(self._arm_ids(joined.split(",")) if joined else [])
        else:
            sets = [(o.split(",") if isinstance(o, str) else o) if o else () for o in offered]
            self._offered_sizes.extend([len(o) for o in sets])
            self._offered.extend(self._arm_ids([a for o in sets for a in o]))
        if segments:
            self._segments.extend(labels)

    def _add_drops(self, first: int, drops: Sequence[Any]) -> None:
        """Keep the left-out candidates by the row they came with (rare: most requests leave none out)."""
        for offset, logged in enumerate(drops):
            if not logged or logged == "[]":
                continue
            if isinstance(logged, str):  # [[positions]..., arms...] from the database
                values = json.loads(logged)
                half = len(values) // 2
                pairs = [(p, arm) for at, arm in zip(values[:half], values[half:], strict=True) for p in at]
            else:
                pairs = list(logged)
            for position, arm in pairs:
                self._drop_rows.append(first + offset)
                self._drop_positions.append(int(position))
                self._drop_arms.append(self.arm_id(arm))

    def _add_estimates(self, first: int, estimates: Sequence[Any]) -> None:
        """Keep the logged estimates (text from the database, mappings from the simulator) by row.

        Text is parsed for the whole chunk at once: one join, one C-level parse (a JSON decode per request
        costs more than the rest of the evaluation).
        """
        texts = [(first + offset, text) for offset, text in enumerate(estimates) if isinstance(text, str)]
        if texts:
            rows = np.fromiter((row for row, _ in texts), dtype=np.int64, count=len(texts))
            values = np.fromstring(",".join(text for _, text in texts), sep=",")
            self._estimate_blocks.append((rows, values.reshape(len(texts), -1)))
            self._logged_rows.extend(rows.tolist())
        for offset, logged in enumerate(estimates):
            if logged is None or isinstance(logged, str):
                continue
            self._logged_rows.append(first + offset)
            for arm, (count, total) in (json.loads(logged) if isinstance(logged, str) else logged).items():
                self._estimate_rows.append(first + offset)
                self._estimate_arms.append(self.arm_id(arm))
                self._estimate_counts.append(float(count))
                self._estimate_sums.append(float(total))

    def _logged_estimates(self, first_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(R, A) count and reward sum of the estimates each kept request logged, and which requests did."""
        shape = (len(first_rows), len(self.arm_ids))
        count, total, has = np.zeros(shape), np.zeros(shape), np.zeros(len(first_rows), dtype=bool)
        if not len(first_rows):
            return count, total, has

        def kept_requests(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            request = np.searchsorted(first_rows, rows)
            return request, (request < len(first_rows)) & (first_rows[np.minimum(request, len(first_rows) - 1)] == rows)

        request, kept = kept_requests(np.frombuffer(self._estimate_rows, dtype=np.int64))
        arms = np.frombuffer(self._estimate_arms, dtype=np.int64)[kept]
        count[request[kept], arms] = np.frombuffer(self._estimate_counts, dtype=float)[kept]
        total[request[kept], arms] = np.frombuffer(self._estimate_sums, dtype=float)[kept]
        for rows, block in self._estimate_blocks:
            request, kept = kept_requests(rows)
            width = block.shape[1] // 2
            count[request[kept], :width], total[request[kept], :width] = block[kept, 0::2], block[kept, 1::2]
        request, kept = kept_requests(np.frombuffer(self._logged_rows, dtype=np.int64))
        has[request[kept]] = True
        return count, total, has

    def build(self) -> LoggedSlates:
        """Validate every request at once, count the skipped ones by reason, and keep the usable ones."""
        ids = np.frombuffer(self._ids, dtype=np.int64)
        n = len(ids)
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if n else np.zeros(0, dtype=np.int64)
        group = np.cumsum(np.r_[True, ids[1:] != ids[:-1]]) - 1 if n else np.zeros(0, dtype=np.int64)
        rank = np.arange(n) - starts[group] if n else np.zeros(0, dtype=np.int64)
        arm = np.frombuffer(self._arms, dtype=np.int64)
        propensity = np.frombuffer(self._propensities, dtype=float)
        reward = np.frombuffer(self._rewards, dtype=float)
        final = np.frombuffer(self._finals, dtype=np.int8).astype(bool)
        position = np.frombuffer(self._positions, dtype=np.int64)
        # The candidate set comes with each request's first row (the query sends it with position 0 only).
        all_sizes = np.frombuffer(self._offered_sizes, dtype=np.int64)
        flat = np.frombuffer(self._offered, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(all_sizes)])
        sizes = all_sizes[starts]
        counts = np.zeros((len(starts), len(self.arm_ids)), dtype=np.int32)
        take = np.repeat(offsets[starts], sizes) + (np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes))
        np.add.at(counts, (np.repeat(np.arange(len(starts)), sizes), flat[take]), 1)
        reasons = {
            LEGACY: np.bincount(group, weights=np.isnan(propensity) | ~(propensity > 0), minlength=len(starts)) > 0,
            PENDING: np.bincount(group, weights=~final | np.isnan(reward), minlength=len(starts)) > 0,
            INCONSISTENT: self._inconsistent(group, rank, arm, position, counts, len(starts)),
        }
        reasons[LEGACY] |= sizes == 0
        skipped: Counter[str] = Counter()
        bad = np.zeros(len(starts), dtype=bool)
        for reason, flagged in reasons.items():  # first reason wins: legacy, then pending, then inconsistent
            mine = flagged & ~bad
            if mine.any():
                skipped[reason] = int(np.bincount(group, minlength=len(starts))[mine].sum())
            bad |= flagged
        keep_request = ~bad
        keep = keep_request[group] if n else np.zeros(0, dtype=bool)
        renumber = np.cumsum(keep_request) - 1
        first_rows = starts[keep_request]
        logged_count, logged_sum, has_estimates = self._logged_estimates(first_rows)
        return LoggedSlates(
            arms=list(self.arm_ids),
            request_time=np.frombuffer(self._times, dtype=float)[first_rows].copy(),
            request_user=np.frombuffer(self._users, dtype=np.int64)[first_rows].copy(),
            candidate_counts=counts[keep_request],
            row_request=renumber[group[keep]],
            row_position=position[keep].astype(np.int16),
            row_arm=arm[keep].copy(),
            row_propensity=propensity[keep].copy(),
            row_reward=reward[keep].copy(),
            row_segment=[s for s, k in zip(self._segments, keep, strict=True) if k] if self._segments else [],
            request_policy=self._policy_names(first_rows),
            logged_count=logged_count,
            logged_sum=logged_sum,
            has_estimates=has_estimates,
            **self._kept_drops(first_rows),
            skipped=skipped,
            logging_policies=self._policy_counts(first_rows),
        )

    def _kept_drops(self, first_rows: np.ndarray) -> dict[str, np.ndarray]:
        """The drops of the kept requests, by kept-request index."""
        rows = np.frombuffer(self._drop_rows, dtype=np.int64)
        request = np.searchsorted(first_rows, rows)
        kept = request < len(first_rows)
        kept[kept] = first_rows[request[kept]] == rows[kept]
        return {
            "drop_request": request[kept],
            "drop_position": np.frombuffer(self._drop_positions, dtype=np.int64)[kept].copy(),
            "drop_arm": np.frombuffer(self._drop_arms, dtype=np.int64)[kept].copy(),
        }

    def _policy_names(self, first_rows: np.ndarray) -> np.ndarray:
        names = np.array(list(self._policy_ids) or [""])
        return names[np.frombuffer(self._policies, dtype=np.int64)[first_rows]]

    def _policy_counts(self, first_rows: np.ndarray) -> Counter[str]:
        names, counts = np.unique(self._policy_names(first_rows), return_counts=True)
        return Counter({str(name): int(n) for name, n in zip(names, counts, strict=True)})

    def _inconsistent(
        self,
        group: np.ndarray,
        rank: np.ndarray,
        arm: np.ndarray,
        position: np.ndarray,
        counts: np.ndarray,
        requests: int,
    ) -> np.ndarray:
        """Requests with a repeated position, or a pick whose arm had no candidate left at that point."""
        repeated = (rank > 0) & (position == np.r_[-1, position[:-1]])
        valid = (arm >= 0) & (arm < counts.shape[1])  # -1: an arm the database could not name
        if counts.shape[1] == 0:
            return np.ones(requests, dtype=bool)
        offered = np.where(valid, counts[group, np.clip(arm, 0, counts.shape[1] - 1)], 0)
        missing = offered - _earlier_same_arm(group, rank, arm) < 1
        return np.bincount(group, weights=repeated | missing, minlength=requests) > 0
