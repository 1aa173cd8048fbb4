"""A simulated world where which tip works depends on who asks, when, and about which task.

Users belong to one of three hidden segments (planners, doers, strained) that shift their taste per kind;
strained users have more open tasks. Each request happens at an hour drawn from the user's habit (morning
or evening person) and offers tips about a few of the user's tasks, each with its own overdue days and
priority. A tip engages with probability sigmoid(base + segment x kind + hour x kind + overdue x kind +
priority x kind + source + personal deviation), so two tips of the same kind can differ a lot: the arm
(source:kind) alone cannot tell them apart (docs/evaluation.md, "The contextual world").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from generation.candidates import TipCandidate, TipKind, TipSource
from recommender.evaluation.world import ARMS, KINDS, Context, outcome_split, outcome_values, simulated_candidate

SEGMENTS = ("planner", "doer", "strained")
BASE = np.array([0.2, -0.3, -0.4, -0.4, -0.3, -0.6])  # logit per kind, in KINDS order
SEGMENT_TASTE = (
    np.array(
        [
            [-0.4, 0.0, -0.2, 0.6, 1.2, -0.2],  # planner: plans and batches
            [0.9, 0.5, -0.3, 0.0, -0.4, -0.6],  # doer: does and splits
            [-0.3, 0.0, 0.8, -0.2, -0.6, 1.2],  # strained: reschedules and rests
        ]
    )
    * 1.5
)
OPEN_TASKS = ((8.0, 2.0), (20.0, 4.0), (45.0, 8.0))  # mean, sd per segment
OVERDUE_CHANCE = (0.25, 0.35, 0.6)  # per shown task, per segment
PERSONAL_SD = 0.2
LLM_EFFECT = 0.1
_KIND = {kind: i for i, kind in enumerate(KINDS)}
_NO_TASK_KINDS = (TipKind.PLAN, TipKind.WELLBEING)
_URGENT_EFFECT: dict[str, float] = {TipKind.DO_NOW: 1.5, TipKind.BATCH: -0.6, TipKind.RESCHEDULE: -0.8}


def hour_effect(kind: int, hour: int) -> float:
    """Plans work in the morning, doing around midday, rest in the evening."""
    kind_name = KINDS[kind]
    if kind_name == TipKind.PLAN:
        return 1.2 if hour < 11 else (-0.8 if hour >= 19 else 0.0)
    if kind_name == TipKind.WELLBEING:
        return 1.2 if hour >= 19 else -0.3
    if kind_name == TipKind.DO_NOW:
        return 0.5 if 11 <= hour < 17 else -0.1
    return 0.0


def task_effect(kind: int, due_age: int | None, priority: int | None) -> float:
    """Overdue work wants rescheduling, not doing; urgent work wants doing, not batching or moving."""
    kind_name, days = KINDS[kind], min(due_age or 0, 10)
    effect = 0.0
    if kind_name == TipKind.RESCHEDULE:
        effect += 0.2 * days - 0.6
    elif kind_name == TipKind.DO_NOW:
        effect += -0.1 * days
    elif kind_name == TipKind.BREAK_DOWN:
        effect += 0.06 * days
    if priority == 4:
        effect += _URGENT_EFFECT.get(kind_name, 0.0)
    elif priority == 3:
        effect += 0.4 if kind_name == TipKind.DO_NOW else 0.0
    return effect


@dataclass(frozen=True)
class _Task:
    task_id: str
    due_age: int | None  # days overdue (0: due today), None without a due date
    priority: int


class ContextualWorld:
    """The hidden truth of the contextual world: segments, habits, and each candidate's action probabilities."""

    name = "contextual"

    def __init__(self, users: int, rng: np.random.Generator) -> None:
        self.users = users
        self.segment = rng.integers(len(SEGMENTS), size=users)
        self.deviation = rng.normal(0.0, PERSONAL_SD, size=(users, len(KINDS)))
        self.evening = rng.random(users) < 0.5
        means = np.array([OPEN_TASKS[s][0] for s in self.segment])
        sds = np.array([OPEN_TASKS[s][1] for s in self.segment])
        self.open_tasks = np.maximum(rng.normal(means, sds), 3).round().astype(int)
        self.outcome_rewards = outcome_values()
        # The judge's prompt reads a per-kind taste: here the segment's, without the context effects.
        self.taste = BASE + SEGMENT_TASTE[self.segment] + self.deviation

    def engagement(self, context: Context) -> np.ndarray:
        """The probability that the user engages with each offered candidate."""
        user = context.user
        logits = []
        for candidate in context.candidates:
            kind = _KIND[candidate.kind]
            f = candidate.features
            logit = self.taste[user, kind] + hour_effect(kind, int(f["local_hour"]))
            logit += task_effect(kind, f.get("due_age_days"), f.get("max_priority"))
            logit += LLM_EFFECT if candidate.source == TipSource.LLM else 0.0
            logits.append(logit)
        return 1.0 / (1.0 + np.exp(-np.asarray(logits)))

    def outcome_probabilities(self, context: Context) -> np.ndarray:
        """(len(candidates), len(OUTCOMES)): completed, accepted, snoozed, dismissed, silent."""
        return outcome_split(self.engagement(context))

    def contexts(self, rng: np.random.Generator) -> Iterator[list[Context]]:
        """Each round's requests: tips about three to five of the user's tasks, rule and LLM ones."""
        serial = 0
        while True:
            row = []
            for user in range(self.users):
                hour = int(rng.integers(17, 24) if self.evening[user] else rng.integers(6, 13))
                weekday = int(rng.integers(7))
                overdue_chance = OVERDUE_CHANCE[self.segment[user]]
                tasks = []
                for _ in range(int(rng.integers(3, 6))):
                    serial += 1
                    due = int(rng.integers(1, 15)) if rng.random() < overdue_chance else rng.choice([0, -1])
                    priority = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.25, 0.2, 0.15]))
                    tasks.append(_Task(f"sim-{user}-{serial}", None if due < 0 else int(due), priority))
                picks = _picks(tasks, rng)
                overdue = sum(1 for t in tasks if (t.due_age or 0) > 0)
                shared = {"local_hour": hour, "weekday": weekday, "open_tasks": int(self.open_tasks[user])}
                shared |= {"overdue_tasks": overdue, "user_id": user}
                candidates = tuple(_candidate(user, kind, source, task, shared) for kind, source, task in picks)
                arms = np.array([ARMS.index(c.arm) for c in candidates])
                urgency = overdue / len(tasks)
                row.append(Context(user, urgency, candidates, arms))
            yield row


def _picks(tasks: list[_Task], rng: np.random.Generator) -> list[tuple[str, str, _Task | None]]:
    """Rule tips that fit each task, then three or four LLM tips of distinct kinds about random tasks."""
    picks: list[tuple[str, str, _Task | None]] = []
    for task in tasks:
        if task.due_age is not None or task.priority >= 3:
            picks.append((TipKind.DO_NOW, TipSource.TODOIST, task))
        if (task.due_age or 0) > 0:
            picks.append((TipKind.RESCHEDULE, TipSource.TODOIST, task))
        if rng.random() < 0.3:
            picks.append((TipKind.BREAK_DOWN, TipSource.TODOIST, task))
    for k in sorted(rng.choice(len(KINDS), size=int(rng.integers(3, 5)), replace=False)):
        kind = KINDS[k]
        about = None if kind in _NO_TASK_KINDS else tasks[int(rng.integers(len(tasks)))]
        picks.append((kind, TipSource.LLM, about))
    return picks


def _candidate(user: int, kind: str, source: str, task: _Task | None, shared: dict[str, int]) -> TipCandidate:
    features = {
        **shared,
        "due_age_days": task.due_age if task else None,
        "max_priority": task.priority if task else None,
        "n_tasks": 1 if task else 0,
        "from_pool": source == TipSource.LLM,
    }
    return simulated_candidate(user, kind, source, (task.task_id,) if task else (), features)
