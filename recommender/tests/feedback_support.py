"""Rows for the feedback and learning tests, written with the ORM (independent of the serving pipeline)."""

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from generation.candidates import TipCandidate
from recommender.models import ArmStat, TipRequest, TipScore


def candidate(kind: str = "do_now", source: str = "todoist", task_ids: tuple[str, ...] = ("t1",), **kw: Any):
    """A candidate as serving logs it; LLM candidates get a model and prompt version unless given."""
    if source == "llm":
        kw.setdefault("llm_model", "ollama_chat/qwen2.5:7b")
        kw.setdefault("prompt_version", "tips-v1")
    else:
        kw.setdefault("prompt_version", "rules-v1")
        kw.setdefault("features", {"rule": kind})
    kw.setdefault("title", f"{kind} tip")
    return TipCandidate(kind=kind, source=source, body="", task_ids=task_ids, **kw)


def serve(
    user: User,
    *candidates: TipCandidate,
    served_at: datetime | None = None,
    offered: list[TipCandidate] | None = None,
) -> list[TipScore]:
    """Log one serve call of `candidates` (default: one rule do_now tip) as serving would."""
    candidates = candidates or (candidate(),)
    served_at = served_at or timezone.now()
    request = TipRequest.objects.create(
        user=user,
        created_at=served_at,
        policy="uniform",
        candidates=[c.describe() for c in (offered if offered is not None else candidates)],
    )
    return [
        TipScore.objects.create(
            request=request,
            user=user,
            position=position,
            tip_kind=c.kind,
            source=c.source,
            title=c.title,
            task_ids=list(c.task_ids),
            prompt_version=c.prompt_version,
            llm_model=c.llm_model,
            score=0.5,
            propensity=1.0 / len(candidates),
            due_age_days=c.features.get("due_age_days"),
            features=dict(c.features),
            served_at=served_at,
        )
        for position, c in enumerate(candidates)
    ]


def tip(user: User, *, hours_ago: float = 0.0, **kw: Any) -> TipScore:
    """One served tip, `hours_ago` hours ago."""
    return serve(user, candidate(**kw), served_at=timezone.now() - timedelta(hours=hours_ago))[0]


def stats_snapshot() -> dict[tuple[int | None, str], tuple[int, float]]:
    """Every arm statistic as {(user_id or None, arm): (count, reward_sum)}."""
    return {(s.user_id, s.arm): (s.count, s.reward_sum) for s in ArmStat.objects.all()}
