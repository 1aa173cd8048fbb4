"""The LiteLLM alias client: one place that talks to the gateway, by alias, with explicit timeouts.

Embedded runs (LITELLM_URL unset) call an in-process `litellm.Router` built once per process from
`infra/litellm/litellm_config.yaml`; production calls the LiteLLM proxy (`litellm_proxy/<alias>`).
litellm is imported inside functions only: importing it costs seconds and Django must not pay that at
start-up. Its exceptions become the few errors in `generation.errors`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from generation.errors import GatewayUnavailable, GenerationError, RateLimited, RequestRejected
from tipengine.metrics import llm_call_observed

logger = logging.getLogger(__name__)

# The aliases in litellm_config.yaml: the only model names Python code may use.
TIP_GENERATOR = "tip-generator"
EMBEDDER = "embedder"
JUDGE = "judge"

PROXY_PREFIX = "litellm_proxy/"
# `os.environ/NAME` references in the YAML that Django settings own (so tests can override them).
SETTINGS_REFERENCES = ("OLLAMA_URL",)

_router: Any = None
_router_lock = threading.Lock()


@dataclass(frozen=True)
class ChatResult:
    """What the model said, and which concrete model said it (never the alias)."""

    content: str
    model: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class EmbedResult:
    vectors: list[list[float]]
    model: str


def proxy_mode() -> bool:
    """True when calls go to the LiteLLM proxy (LITELLM_URL set), False for the in-process router."""
    return bool(settings.LITELLM_URL)


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download at import
    import litellm

    litellm.suppress_debug_info = True  # it prints "Give Feedback" banners on every error otherwise
    return litellm


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read the alias file, resolving `os.environ/NAME` for names that Django settings own."""
    with open(path or settings.LITELLM_CONFIG_PATH, encoding="utf-8") as fh:
        config = yaml.safe_load(fh) or {}
    for entry in config.get("model_list", []):
        params = entry.get("litellm_params", {})
        for key, value in params.items():
            name = value.removeprefix("os.environ/") if isinstance(value, str) else None
            if name in SETTINGS_REFERENCES:
                params[key] = str(getattr(settings, name))
    return config


def get_router() -> Any:
    """The process-wide in-process Router, built on first use from the alias file."""
    global _router
    if _router is None:
        with _router_lock:
            if _router is None:
                litellm = _import_litellm()
                config = load_config()
                litellm.drop_params = bool(config.get("litellm_settings", {}).get("drop_params", True))
                # Retries, cool-downs and failure accounting are ours (JSON retry, circuit breaker):
                # the router must make exactly one attempt per call.
                _router = litellm.Router(model_list=config["model_list"], num_retries=0, disable_cooldowns=True)
                # The Router resets its logger to INFO, which logs every failed call a second time (with
                # litellm's own handler); our gateway log line already says what failed.
                logging.getLogger("LiteLLM Router").setLevel(logging.WARNING)
    return _router


def reset_router(**_: Any) -> None:
    """Forget the built Router so the next call rebuilds it (settings changed, tests)."""
    global _router
    with _router_lock:
        _router = None


def concrete_model(reported: str | None) -> str:
    """The model as the gateway reported it, without the SDK's proxy prefix."""
    model = (reported or "").removeprefix(PROXY_PREFIX)
    return model or "unknown"


def chat(
    *, alias: str, messages: list[dict[str, str]], timeout_s: float, response_format: dict | None = None
) -> ChatResult:
    """One chat completion by alias, one attempt, bounded by `timeout_s`. Raises GenerationError."""
    kwargs: dict[str, Any] = {"messages": messages, "timeout": timeout_s, "num_retries": 0}
    if response_format is not None:
        kwargs["response_format"] = response_format
    started = time.perf_counter()
    try:
        if proxy_mode():
            litellm = _import_litellm()
            response = litellm.completion(model=PROXY_PREFIX + alias, **_proxy_kwargs(), **kwargs)
        else:
            response = get_router().completion(model=alias, **kwargs)
    except Exception as exc:  # litellm raises many types; callers get ours
        raise _log_and_map(exc, alias=alias, started=started) from exc
    latency_ms = (time.perf_counter() - started) * 1000
    usage = getattr(response, "usage", None)
    llm_call_observed(
        alias=alias,
        outcome="ok",
        seconds=latency_ms / 1000,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )
    result = ChatResult(
        content=response.choices[0].message.content or "",
        model=concrete_model(getattr(response, "model", None)),
        latency_ms=latency_ms,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )
    # Alias, concrete model, timing and token counts only: prompts and answers hold users' task text.
    logger.info(
        "gateway.chat ok alias=%s model=%s ms=%.0f prompt_tokens=%s completion_tokens=%s",
        alias,
        result.model,
        latency_ms,
        result.prompt_tokens,
        result.completion_tokens,
    )
    return result


def embed(*, texts: list[str], timeout_s: float, alias: str = EMBEDDER) -> EmbedResult:
    """Embed `texts` by alias, one attempt, bounded by `timeout_s`. Raises GenerationError."""
    started = time.perf_counter()
    kwargs: dict[str, Any] = {"input": texts, "timeout": timeout_s, "num_retries": 0}
    try:
        if proxy_mode():
            response = _import_litellm().embedding(model=PROXY_PREFIX + alias, **_proxy_kwargs(), **kwargs)
        else:
            response = get_router().embedding(model=alias, **kwargs)
    except Exception as exc:
        raise _log_and_map(exc, alias=alias, started=started) from exc
    usage = getattr(response, "usage", None)
    llm_call_observed(
        alias=alias,
        outcome="ok",
        seconds=time.perf_counter() - started,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
    )
    vectors = [item["embedding"] for item in response.data]
    return EmbedResult(vectors=vectors, model=concrete_model(getattr(response, "model", None)))


def _proxy_kwargs() -> dict[str, Any]:
    return {"api_base": settings.LITELLM_URL, "api_key": settings.LITELLM_MASTER_KEY or "no-key"}


def _log_and_map(exc: Exception, *, alias: str, started: float) -> GenerationError:
    error = map_exception(exc)
    llm_call_observed(alias=alias, outcome=error.code, seconds=time.perf_counter() - started)
    logger.warning(
        "gateway.call failed alias=%s error=%s status=%s ms=%.0f",
        alias,
        error.code,
        error.details.get("status"),
        (time.perf_counter() - started) * 1000,
    )
    return error


def map_exception(exc: Exception) -> GenerationError:
    """Turn a litellm (or transport) exception into one of the project's errors."""
    if isinstance(exc, GenerationError):
        return exc
    litellm = _import_litellm()
    status = getattr(exc, "status_code", None)
    details = {"status": status, "type": type(exc).__name__}
    if isinstance(exc, litellm.Timeout):
        return GatewayUnavailable("The model did not answer in time.", details={**details, "reason": "timeout"})
    if isinstance(exc, litellm.RateLimitError) or status == 429:
        return RateLimited("The model gateway is rate limiting requests.", details=details)
    if isinstance(exc, litellm.APIConnectionError):
        return GatewayUnavailable("The model gateway cannot be reached.", details={**details, "reason": "connection"})
    if isinstance(status, int) and 400 <= status < 500:
        return RequestRejected(f"The model gateway rejected the request ({status}).", details=details)
    if isinstance(status, int) and status >= 500:
        return GatewayUnavailable(f"The model gateway failed ({status}).", details={**details, "reason": "server"})
    # Anything else from inside litellm (unexpected payloads, transport errors): treat as unavailable,
    # with the traceback logged, so a broken gateway degrades tips instead of failing requests.
    logger.error("gateway: unexpected %s", type(exc).__name__, exc_info=exc)
    return GatewayUnavailable("The model gateway failed unexpectedly.", details={**details, "reason": "unexpected"})


def warm_up() -> None:
    """Pay litellm's import (and build the in-process router) now, e.g. before a web worker takes requests.

    Otherwise the first request-time call of each fresh worker spends its whole budget importing, times out,
    and counts as a gateway failure towards the shared breaker.
    """
    if proxy_mode():
        _import_litellm()
    else:
        get_router()
