"""The contextual policy's view of a request: Vowpal Wabbit text examples from candidates and arm estimates.

One shared line says who asks and when (local hour, weekday, open and overdue counts, the user's estimate
per kind, and the user in a namespace of their own); one line per candidate says what it is (kind in its own
namespace, then source, due age, priority, task count, prompt version, LLM model, pool). The model crosses
kind with all three (`-q ks -q ka -q ku`), so it can learn "reschedule when overdue" or "plan in the morning
for planners" without hand-made pairs, and each user's own taste per kind once they have feedback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from generation.candidates import TipCandidate
from recommender.policies.base import PRIOR_MEAN, ArmEstimate

# VW text format reserves whitespace, ':' and '|' in feature names.
_RESERVED = re.compile(r"[\s:|]+")


# Days overdue (-1 for not yet due, 0 for due today) -> band: future, today, 1-2, 3-6, a week or more.
_DUE_BANDS = ("future", "today", "1", "1", "3", "3", "3", "3", "7")


def _token(value: Any) -> str:
    return _RESERVED.sub("_", str(value))


def _shared_value(candidates: Sequence[TipCandidate], name: str) -> Any:
    """A request-wide feature, as serving gives every candidate the same value."""
    return candidates[0].features.get(name) if candidates else None


def kind_estimates(stats: Mapping[str, ArmEstimate]) -> dict[str, float]:
    """The user's estimate per kind, both sources pooled by count: their recent feedback by kind."""
    pooled: dict[str, list[float]] = {}
    for arm, estimate in stats.items():
        kind = arm.partition(":")[2]
        count_sum = pooled.setdefault(kind, [0.0, 0.0])
        count_sum[0] += estimate.count
        count_sum[1] += estimate.reward_sum
    return {kind: total / count for kind, (count, total) in pooled.items() if count > 0}


def shared_line(candidates: Sequence[TipCandidate], stats: Mapping[str, ArmEstimate]) -> str:
    """The shared example: local hour (in two-hour bands), weekday, workload, feedback by kind, and the user."""
    parts = ["shared |s"]
    hour = _shared_value(candidates, "local_hour")
    if hour is not None:
        parts.append(f"hb{int(hour) // 2}")
    weekday = _shared_value(candidates, "weekday")
    if weekday is not None:
        parts.append(f"wd{int(weekday)}")
    for name in ("open_tasks", "overdue_tasks"):
        value = _shared_value(candidates, name)
        if value is not None:  # doubling and half-doubling bands as well as the amount: workloads tell users apart
            octaves = math.log2(max(float(value), 0.0) + 1)
            parts += [f"{name}:{octaves * math.log(2):.4f}", f"{name}{int(octaves)}", f"{name}h{int(2 * octaves)}"]
    for kind, mean in sorted(kind_estimates(stats).items()):
        parts.append(f"fb_{_token(kind)}:{mean - PRIOR_MEAN:.4f}")
    user = _shared_value(candidates, "user_id")
    if user is not None:  # kind x user: a taste the workload bands cannot tell, e.g. a planner with many tasks
        parts.append(f"|u u{_token(user)}")
    return " ".join(parts)


def action_line(candidate: TipCandidate) -> str:
    """One candidate's example: its kind, then what distinguishes it from others of that kind."""
    f = candidate.features
    return _action_line(
        candidate.kind,
        candidate.source,
        f.get("due_age_days"),
        f.get("max_priority"),
        int(f.get("n_tasks") or 0),
        candidate.prompt_version,
        candidate.llm_model,
        bool(f.get("from_pool")),
    )


# A user's pool is served many times a day, and pools share most of their lines: built once per process.
@lru_cache(maxsize=4096)
def _action_line(
    kind: str,
    source: str,
    due: Any,
    priority: Any,
    n_tasks: int,
    prompt_version: str,
    llm_model: str | None,
    from_pool: bool,
) -> str:
    parts = [f"|k {_token(kind)} |a src_{_token(source)}"]
    if due is None:
        parts.append("undated")
    else:
        days = min(max(int(due), -1), 30)
        parts += [f"due:{math.log1p(max(days, 0)):.4f}", f"due{_DUE_BANDS[min(max(days, -1), 7) + 1]}"]
    if priority is not None:
        parts.append(f"p{int(priority)}")
    parts.append(f"tasks{min(n_tasks, 3)}")
    if prompt_version:
        parts.append(f"pv_{_token(prompt_version)}")
    if llm_model:
        parts.append(f"m_{_token(llm_model)}")
    if from_pool:
        parts.append("pool")
    return " ".join(p for p in parts if p)


def action_lines(candidates: Sequence[TipCandidate]) -> list[str]:
    return [action_line(c) for c in candidates]
