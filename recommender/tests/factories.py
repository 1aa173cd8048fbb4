"""Builders for tasks and candidates shared by the recommender's serving tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from generation.candidates import TipCandidate, TipSource
from integrations.todoist.types import TodoistTask

# A fixed instant: 08:30 UTC on a Wednesday, so "start of the day" rules apply unless a test moves it.
NOW = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
TODAY = NOW.date()


def task(task_id: str, content: str = "", **fields: Any) -> TodoistTask:
    """A task; `due_in` (days from TODAY, negative = overdue) and `age` (days since added) are shortcuts."""
    due_in = fields.pop("due_in", None)
    age = fields.pop("age", None)
    if due_in is not None:
        fields["due_date"] = TODAY + timedelta(days=due_in)
    if age is not None:
        fields["added_at"] = NOW - timedelta(days=age)
    return TodoistTask(id=task_id, content=content or f"Task {task_id}", **fields)


def llm_tip(kind: str = "do_now", task_ids: tuple[str, ...] = (), title: str = "", **fields: Any) -> TipCandidate:
    """An LLM candidate as the pool holds it."""
    return TipCandidate(
        kind=kind,
        source=TipSource.LLM.value,
        title=title or f"LLM {kind} about {', '.join(task_ids) or 'nothing'}",
        body="Spend ten focused minutes on it.",
        rationale="It matters.",
        task_ids=task_ids,
        llm_model=fields.pop("llm_model", "ollama_chat/qwen2.5:7b"),
        prompt_version=fields.pop("prompt_version", "tips-v1"),
        **fields,
    )


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)
