"""The per-user pool of LLM tip candidates, generated ahead of requests and kept until it expires."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from generation.candidates import TipCandidate, TipSource


class CandidatePool(models.Model):
    """One row per user: the latest generated candidates, with the model and prompt that made them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="candidate_pool")
    candidates = models.JSONField(default=list)
    llm_model = models.CharField(max_length=200, help_text="The concrete model that answered, never the alias.")
    prompt_version = models.CharField(max_length=64)
    # Hash of the prompt context: a refresh with the same inputs while fresh is a no-op (idempotent).
    context_fingerprint = models.CharField(max_length=64)
    generated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    dropped = models.JSONField(default=dict, help_text="Candidates dropped by validation, by reason.")

    class Meta:
        db_table = "generation_candidate_pool"

    def __str__(self) -> str:
        return f"CandidatePool for user {self.user_id} ({len(self.candidates)} candidates)"

    def is_fresh(self, now: Any = None) -> bool:
        """Return True while the pool has not expired."""
        return self.expires_at > (now or timezone.now())

    def tip_candidates(self) -> list[TipCandidate]:
        """Return the stored candidates as TipCandidate objects."""
        return [candidate_from_dict(data) for data in self.candidates]


def candidate_to_dict(candidate: TipCandidate) -> dict[str, Any]:
    """Serialize a candidate for the pool's JSON column."""
    return {
        "kind": candidate.kind,
        "title": candidate.title,
        "body": candidate.body,
        "rationale": candidate.rationale,
        "task_ids": list(candidate.task_ids),
        "llm_model": candidate.llm_model,
        "prompt_version": candidate.prompt_version,
        "features": dict(candidate.features),
    }


def candidate_from_dict(data: dict[str, Any]) -> TipCandidate:
    """Rebuild a candidate stored by `candidate_to_dict`."""
    return TipCandidate(
        kind=data["kind"],
        source=TipSource.LLM.value,
        title=data["title"],
        body=data["body"],
        rationale=data.get("rationale", ""),
        task_ids=tuple(data.get("task_ids", ())),
        llm_model=data.get("llm_model"),
        prompt_version=data.get("prompt_version", ""),
        features=dict(data.get("features", {})),
    )
