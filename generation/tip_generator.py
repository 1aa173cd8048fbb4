"""Generate tip candidates: prompt by alias, parse leniently, correct at most twice, fail typed."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from generation import gateway
from generation.breaker import CircuitBreaker, gateway_breaker
from generation.candidates import TipCandidate, TipKind
from generation.context import PromptContext
from generation.errors import GatewayUnavailable, InvalidOutput, RateLimited, RequestRejected
from generation.parsing import OutputError, parse_tips
from generation.prompting import PromptTemplate, build_messages, correction_messages, load_template

logger = logging.getLogger(__name__)

MAX_CORRECTIONS = 2  # so at most three attempts in all


@dataclass(frozen=True)
class GenerationResult:
    """Valid candidates plus what it took to get them (for logs and the pool row)."""

    candidates: list[TipCandidate]
    llm_model: str
    prompt_version: str
    attempts: int
    dropped: Counter[str] = field(default_factory=Counter)
    merged: int = 0
    latency_ms: float = 0.0


def tips_response_format() -> dict[str, Any]:
    """JSON mode with the wire schema (Ollama turns it into a grammar; others validate or ignore it)."""
    tip = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": list(TipKind.values)},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "rationale": {"type": "string"},
            "task_ids": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["kind", "title", "body", "rationale", "task_ids"],
    }
    schema = {"type": "object", "properties": {"tips": {"type": "array", "items": tip}}, "required": ["tips"]}
    return {"type": "json_schema", "json_schema": {"name": "tips", "schema": schema}}


def generate_tips(
    *,
    context: PromptContext,
    timeout_s: float,
    max_tips: int | None = None,
    template: PromptTemplate | None = None,
    breaker: CircuitBreaker | None = None,
) -> GenerationResult:
    """Ask the tip-generator alias for tips about `context`, all attempts within `timeout_s`.

    Raises CircuitOpen (skipped), GatewayUnavailable, RateLimited, RequestRejected, or InvalidOutput
    after three unusable answers.
    """
    template = template or load_template()
    breaker = breaker or gateway_breaker()
    max_tips = max_tips or settings.GENERATION_MAX_TIPS
    breaker_dirty = breaker.before_call()
    started = time.monotonic()
    deadline = started + timeout_s
    messages = build_messages(template, context, max_tips=max_tips)
    problems: list[str] = []
    out_of_time = False
    for attempt in range(1, MAX_CORRECTIONS + 2):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            out_of_time = True  # the budget went on earlier bad answers: report them, not a gateway fault
            break
        try:
            answer = gateway.chat(
                alias=gateway.TIP_GENERATOR,
                messages=messages,
                timeout_s=remaining,
                response_format=tips_response_format(),
            )
        except (GatewayUnavailable, RateLimited):
            breaker.record_failure()
            raise
        except RequestRejected:
            breaker.record_success()  # the gateway answered: it is up, the request is wrong
            raise
        if breaker_dirty:  # a healthy breaker has nothing to clear: skip the cache round trip
            breaker.record_success()
            breaker_dirty = False
        try:
            parsed = parse_tips(
                answer.content, context=context, llm_model=answer.model, prompt_version=template.version
            )
        except OutputError as exc:
            problems.append(str(exc))
            logger.info("generation: attempt %d unusable (%s)", attempt, exc)
            messages = messages + correction_messages(template, answer=answer.content, error=str(exc))
            continue
        result = GenerationResult(
            candidates=parsed.candidates[:max_tips],
            llm_model=answer.model,
            prompt_version=template.version,
            attempts=attempt,
            dropped=parsed.dropped,
            merged=parsed.merged,
            latency_ms=(time.monotonic() - started) * 1000,
        )
        logger.info(
            "generation ok model=%s prompt=%s attempts=%d kept=%d dropped=%s merged=%d ms=%.0f",
            result.llm_model,
            result.prompt_version,
            attempt,
            len(result.candidates),
            dict(parsed.dropped),
            parsed.merged,
            result.latency_ms,
        )
        return result
    if not problems:
        raise GatewayUnavailable("No time was left for the model to answer.", details={"reason": "budget"})
    attempts = len(problems)
    raise InvalidOutput(
        f"The model gave no usable tips in {attempts} attempt{'s' if attempts != 1 else ''}"
        + (" before the time ran out." if out_of_time else "."),
        details={
            "attempts": attempts,
            "out_of_time": out_of_time,
            "problems": problems,
            "prompt_version": template.version,
        },
    )
