"""The judge mode of the simulator: the `judge` alias plays the simulated user and says what it would do.

The judge sees the user's hidden tastes in words and one tip, and answers {"action": ...}. It replaces the
hidden model's action draw only; regret is still measured against the hidden model's expectations, so a
judge that disagrees with the hidden tastes shows up as reward, not as lower regret. Used only when the
alias is configured (`judge_configured`); every call goes through generation's gateway client.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from generation import gateway
from generation.candidates import TipCandidate
from generation.errors import GenerationError
from generation.parsing import OutputError, extract_json
from recommender.evaluation.world import KINDS, Context, SimulatedWorld
from recommender.reward_table import Action

logger = logging.getLogger(__name__)

JUDGE_TIMEOUT_S = 30.0
SILENT = "ignored"
ANSWERS: dict[str, str | None] = {
    Action.COMPLETED: Action.COMPLETED,
    Action.ACCEPTED: Action.ACCEPTED,
    Action.SNOOZED: Action.SNOOZED,
}
ANSWERS |= {Action.DISMISSED: Action.DISMISSED, SILENT: None}
SYSTEM = (
    "You simulate one user of a productivity app that suggests tips about their Todoist tasks. "
    "Given the user's tastes and one tip, answer with JSON only: "
    '{"action": "completed" | "accepted" | "snoozed" | "dismissed" | "ignored"}. '
    "completed: they act on the tip now; accepted: they like it; snoozed: not now; dismissed: not for them; "
    "ignored: they do not react."
)


class JudgeError(RuntimeError):
    """The judge could not be asked or gave an unusable answer (the message says which)."""


def judge_configured() -> bool:
    """True when the `judge` alias can be called: a LiteLLM proxy, or the alias file's variables are all set."""
    if gateway.proxy_mode():
        return True
    for entry in gateway.load_config().get("model_list", []):
        if entry.get("model_name") == gateway.JUDGE:
            params = entry.get("litellm_params", {})
            needed = [v.removeprefix("os.environ/") for v in params.values() if str(v).startswith("os.environ/")]
            return all(os.environ.get(name) for name in needed)
    return False


def _taste_words(logit: float) -> str:
    if logit > 0.5:
        return "loves"
    if logit > 0.0:
        return "likes"
    if logit > -0.5:
        return "is lukewarm about"
    return "dislikes"


def judge_messages(world: SimulatedWorld, context: Context, candidate: TipCandidate) -> list[dict[str, str]]:
    """The prompt: the user's tastes per kind, today's urgency, and the tip."""
    tastes = "; ".join(
        f"{_taste_words(world.taste[context.user, i])} {kind.replace('_', ' ')} tips" for i, kind in enumerate(KINDS)
    )
    urgency = (
        "very behind on their tasks"
        if context.urgency > 0.66
        else "a bit behind"
        if context.urgency > 0.33
        else "on top of things"
    )
    tip = f"[{candidate.kind}] {candidate.title}: {candidate.body}"
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"The user {tastes}. Today they are {urgency}.\nTip: {tip}"},
    ]


class JudgeResponder:
    """A simulator responder that asks the judge alias; counts calls so the command can report them."""

    def __init__(self, timeout_s: float = JUDGE_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.calls = 0

    def __call__(self, world: SimulatedWorld, context: Context, candidate: TipCandidate, u: float) -> str | None:
        self.calls += 1
        try:
            result = gateway.chat(
                alias=gateway.JUDGE,
                messages=judge_messages(world, context, candidate),
                timeout_s=self.timeout_s,
                response_format={"type": "json_object"},
            )
            data: Any = extract_json(result.content)
        except GenerationError as exc:
            raise JudgeError(f"The judge alias failed: {exc.message}") from exc
        except OutputError as exc:
            raise JudgeError(f"The judge answered something that is not JSON: {exc}") from exc
        action = str(data.get("action", "")).strip().lower() if isinstance(data, dict) else ""
        if action not in ANSWERS:
            raise JudgeError(f"The judge answered an unknown action {action!r}; expected one of {sorted(ANSWERS)}.")
        return ANSWERS[action]
