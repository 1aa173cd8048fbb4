"""Generate tip candidates: prompt by alias, parse leniently, correct at most twice, fail typed, report."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from generation import gateway, structured
from generation.breaker import CircuitBreaker, gateway_breaker
from generation.candidates import TipCandidate, TipKind
from generation.context import PromptContext
from generation.errors import GatewayUnavailable, GenerationError, InvalidOutput, RequestRejected
from generation.parsing import OutputError, parse_tips
from generation.prompting import PromptTemplate, build_messages, correction_messages, load_template
from generation.reporting import GenerationReport

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
    report: GenerationReport | None = None  # the per-refresh numbers (generation.reporting)


TIPS_SCHEMA_NAME = "tips"


def tips_schema() -> dict[str, Any]:
    """The wire schema of an answer (Ollama turns it into a grammar; others validate or ignore it)."""
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
    return {"type": "object", "properties": {"tips": {"type": "array", "items": tip}}, "required": ["tips"]}


def tips_response_format(form: str = structured.JSON_SCHEMA) -> dict[str, Any]:
    """The `response_format` for a tips request in `form` (see generation.structured)."""
    return structured.response_format(form, name=TIPS_SCHEMA_NAME, schema=tips_schema())


def generate_tips(
    *,
    context: PromptContext,
    timeout_s: float,
    max_tips: int | None = None,
    template: PromptTemplate | None = None,
    breaker: CircuitBreaker | None = None,
) -> GenerationResult:
    """Ask the tip-generator alias for tips about `context`: at most three calls, all within `timeout_s`.

    An unusable answer is corrected (quoted back with what was wrong) up to twice; a server that rejects the
    schema form of `response_format` is asked again in JSON mode (that call counts as an attempt). A
    generation without a usable answer counts as one failure for the breaker, like an unreachable gateway.
    Raises CircuitOpen (skipped), GatewayUnavailable, RateLimited, RequestRejected, or InvalidOutput.
    Every generation, whatever its end, publishes one GenerationReport.
    """
    template = template or load_template()
    breaker = breaker or gateway_breaker()
    max_tips = max_tips or settings.GENERATION_MAX_TIPS
    alias = gateway.TIP_GENERATOR
    breaker_dirty = breaker.before_call()
    started = time.monotonic()
    report = GenerationReport(alias=alias, prompt_version=template.version)
    try:
        result = _attempts(
            context=context, deadline=started + timeout_s, max_tips=max_tips, template=template, report=report
        )
    except GenerationError as exc:
        report.outcome = exc.code
        if isinstance(exc, RequestRejected):
            if breaker_dirty:  # the gateway answered: it is up, the request is wrong
                breaker.record_success()
        elif exc.details.get("reason") != "budget":  # no time left to ask at all is not the model's fault
            breaker.record_failure()
        raise
    except Exception:
        report.outcome = "error"
        raise
    finally:
        report.latency_ms = (time.monotonic() - started) * 1000
        report.publish()
    if breaker_dirty:  # a healthy breaker has nothing to clear: skip the cache round trip
        breaker.record_success()
    return replace(result, latency_ms=report.latency_ms, report=report)


def _attempts(
    *, context: PromptContext, deadline: float, max_tips: int, template: PromptTemplate, report: GenerationReport
) -> GenerationResult:
    alias = report.alias
    messages = build_messages(template, context, max_tips=max_tips)
    problems: list[str] = []
    out_of_time = False
    form = structured.current_form(alias)
    for attempt in range(1, MAX_CORRECTIONS + 2):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            out_of_time = True  # the budget went on earlier bad answers: report them, not a gateway fault
            break
        report.attempts, report.response_format = attempt, form
        try:
            answer = gateway.chat(
                alias=alias,
                messages=messages,
                timeout_s=remaining,
                response_format=tips_response_format(form),
            )
        except GatewayUnavailable as exc:
            if attempt > MAX_CORRECTIONS or not structured.rejects_form(exc, form):
                raise
            structured.downgrade(alias)
            form = structured.JSON_OBJECT
            continue
        report.model = answer.model
        report.call_ms.append(answer.latency_ms)
        report.prompt_tokens += answer.prompt_tokens or 0
        report.completion_tokens += answer.completion_tokens or 0
        try:
            parsed = parse_tips(
                answer.content, context=context, llm_model=answer.model, prompt_version=template.version
            )
        except OutputError as exc:
            report.unusable_answers += 1
            report.returned += exc.returned
            report.dropped.update(exc.dropped)
            problems.append(str(exc))
            logger.info("generation: attempt %d unusable (%s)", attempt, exc)
            messages = messages + correction_messages(template, answer=answer.content, error=str(exc))
            continue
        candidates = parsed.candidates[:max_tips]
        report.returned += parsed.returned
        report.dropped.update(parsed.dropped)
        report.merged = parsed.merged
        report.kept = len(candidates)
        report.grounded = sum(1 for candidate in candidates if candidate.task_ids)
        return GenerationResult(
            candidates=candidates,
            llm_model=answer.model,
            prompt_version=template.version,
            attempts=attempt,
            dropped=parsed.dropped,
            merged=parsed.merged,
        )
    if not problems:
        raise GatewayUnavailable("No time was left for the model to answer.", details={"reason": "budget"})
    attempts = len(problems)
    raise InvalidOutput(
        f"The model gave no usable tips in {attempts} answer{'s' if attempts != 1 else ''}"
        + (" before the time ran out." if out_of_time else "."),
        details={
            "attempts": report.attempts,
            "out_of_time": out_of_time,
            "problems": problems,
            "prompt_version": template.version,
        },
    )
