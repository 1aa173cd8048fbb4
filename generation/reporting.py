"""What one generation did, in one record: the log line, the pool row and any metric read it from here."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent once per generation, success or failure, with `report=GenerationReport`. Metrics connect here.
generation_reported = Signal()

OK = "ok"


@dataclass
class GenerationReport:
    """Per-refresh numbers. `returned` counts the tips in every answer; the rest describe usable answers.

    Grounded means a kept tip names at least one of the listed tasks (unknown ids are dropped, so any id a
    kept tip names is a real task).
    """

    alias: str
    prompt_version: str
    outcome: str = OK  # "ok" or the error code that ended the generation
    model: str = ""
    response_format: str = ""
    attempts: int = 0
    unusable_answers: int = 0  # answers with no usable tip at all (each one cost a correction)
    returned: int = 0
    kept: int = 0
    grounded: int = 0
    merged: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    latency_ms: float = 0.0
    call_ms: list[float] = field(default_factory=list)  # each answered chat call's latency
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def grounded_share(self) -> float | None:
        """Share of kept tips naming at least one real task (None when nothing was kept)."""
        return self.grounded / self.kept if self.kept else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "model": self.model,
            "response_format": self.response_format,
            "attempts": self.attempts,
            "unusable_answers": self.unusable_answers,
            "returned": self.returned,
            "kept": self.kept,
            "grounded": self.grounded,
            "merged": self.merged,
            "dropped": dict(self.dropped),
            "latency_ms": round(self.latency_ms, 1),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    def publish(self) -> None:
        """Log the record (counts only: no task text) and send `generation_reported`."""
        share = self.grounded_share
        logger.info(
            "generation.report alias=%s outcome=%s model=%s format=%s attempts=%d unusable=%d returned=%d kept=%d "
            "grounded=%d grounded_share=%s dropped=%s merged=%d ms=%.0f tokens=%d+%d",
            self.alias,
            self.outcome,
            self.model or "-",
            self.response_format,
            self.attempts,
            self.unusable_answers,
            self.returned,
            self.kept,
            self.grounded,
            "-" if share is None else f"{share:.2f}",
            dict(self.dropped),
            self.merged,
            self.latency_ms,
            self.prompt_tokens,
            self.completion_tokens,
        )
        generation_reported.send(sender=GenerationReport, report=self)
