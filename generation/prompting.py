"""Versioned prompt templates: `prompt_version` is the template's name plus a hash of its files."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generation.context import PromptContext

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
PARTS = ("system", "user", "correction")
HASH_LENGTH = 10
# Raw answers quoted back in a correction are cut to this, so retries stay bounded.
MAX_QUOTED_ANSWER_CHARS = 2000


@dataclass(frozen=True)
class PromptTemplate:
    """A named set of prompt parts; editing any part changes `version`."""

    name: str
    parts: dict[str, str]

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        for part in PARTS:
            digest.update(part.encode() + b"\0" + self.parts[part].encode() + b"\0")
        return f"{self.name}-{digest.hexdigest()[:HASH_LENGTH]}"

    def render(self, part: str, **values: object) -> str:
        """Fill `part`; a missing value raises KeyError (a template bug, caught by tests)."""
        return Template(self.parts[part]).substitute({k: str(v) for k, v in values.items()})


@functools.cache
def load_template(name: str = "tips") -> PromptTemplate:
    """Read `generation/prompts/<name>/{system,user,correction}.txt` once per process."""
    folder = PROMPTS_DIR / name
    parts = {part: (folder / f"{part}.txt").read_text(encoding="utf-8") for part in PARTS}
    return PromptTemplate(name=name, parts=parts)


def build_messages(template: PromptTemplate, context: PromptContext, *, max_tips: int) -> list[dict[str, str]]:
    """The first request: system rules plus the user's context."""
    truncated = context.counts.not_shown
    return [
        {"role": "system", "content": template.render("system", max_tips=max_tips).strip()},
        {
            "role": "user",
            "content": template.render(
                "user",
                local_date=context.local_date.isoformat(),
                weekday=context.local_date.strftime("%A"),
                timezone=context.timezone,
                open_count=context.counts.open,
                overdue_count=context.counts.overdue,
                due_today_count=context.counts.due_today,
                truncation_note=f" ({truncated} more not shown)" if truncated else "",
                tasks_json=json.dumps([task.as_prompt_dict() for task in context.tasks], ensure_ascii=False),
                feedback_json=json.dumps(context.feedback, ensure_ascii=False, sort_keys=True),
                max_tips=max_tips,
            ).strip(),
        },
    ]


def correction_messages(template: PromptTemplate, *, answer: str, error: str) -> list[dict[str, str]]:
    """Messages appended after a bad answer: the answer itself, then what was wrong with it."""
    return [
        {"role": "assistant", "content": answer[:MAX_QUOTED_ANSWER_CHARS]},
        {"role": "user", "content": template.render("correction", error=error).strip()},
    ]
