"""The LiteLLM alias client: one place that talks to the gateway, by alias, with explicit timeouts.

Embedded runs (LITELLM_URL unset) call an in-process `litellm.Router` built once per process from
`infra/litellm/litellm_config.yaml`; production calls the LiteLLM proxy (`litellm_proxy/<alias>`).
litellm is imported inside functions only: importing it costs seconds and Django must not pay that at
start-up. Its exceptions become the few errors in `generation.errors`.
"""

from __future__ import annotations

import contextlib
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
JUDGE = "judge"

PROXY_PREFIX = "litellm_proxy/"
# The proxy's body names the alias; this response header names the deployment's concrete model.
PROXY_MODEL_HEADER = "x-litellm-model-name"
# `os.environ/NAME` references in the YAML that Django settings own (so tests can override them).
SETTINGS_REFERENCES = ("OLLAMA_URL",)

_router: Any = None
WARM_UP_NICENESS = 10
_model_info: dict[str, dict[str, Any]] | None = None
_imported = False
_router_lock = threading.Lock()


@dataclass(frozen=True)
class ChatResult:
    """What the model said, and which concrete model said it (never the alias)."""

    content: str
    model: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def proxy_mode() -> bool:
    """True when calls go to the LiteLLM proxy (LITELLM_URL set), False for the in-process router."""
    return bool(settings.LITELLM_URL)


def _import_litellm() -> Any:
    global _imported
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download at import
    import litellm

    litellm.suppress_debug_info = True  # it prints "Give Feedback" banners on every error otherwise
    _imported = True
    return litellm


def is_ready() -> bool:
    """True once a call would not wait on litellm's import (nor, in router mode, on building the Router).

    A request-time caller checks it to skip the model while a warm-up is still under way.
    """
    return _imported and (proxy_mode() or _router is not None)


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


def alias_info(alias: str) -> dict[str, Any]:
    """The alias's `model_info` in the alias file (free-form: our per-alias settings live there too)."""
    global _model_info
    if _model_info is None:
        with _router_lock:
            if _model_info is None:
                config = load_config()
                _model_info = {e["model_name"]: dict(e.get("model_info") or {}) for e in config.get("model_list", [])}
    return _model_info.get(alias, {})


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
    """Forget the built Router and alias file so the next call reads them again (settings changed, tests)."""
    global _router, _model_info
    with _router_lock:
        _router, _model_info = None, None


def concrete_model(response: Any) -> str:
    """The concrete model that answered: the proxy's model header, else the response's own `model`.

    litellm keeps a provider's response headers in `_hidden_params["additional_headers"]`, each prefixed
    `llm_provider-`; through the proxy the body's `model` is only the alias.
    """
    hidden = getattr(response, "_hidden_params", None) or {}
    headers = hidden.get("additional_headers") or {}
    reported = headers.get(f"llm_provider-{PROXY_MODEL_HEADER}") or getattr(response, "model", None)
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
        model=concrete_model(response),
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


def warm_up_in_background() -> threading.Thread:
    """Run `warm_up` on a daemon thread, so the process starts serving at once; a failure is only logged.

    A call that arrives before it ends waits on the same import lock (and pays only what is left of it).
    """

    def run() -> None:
        started = time.perf_counter()
        with contextlib.suppress(OSError, AttributeError):  # Linux renices one thread; elsewhere: as is
            # Lower this thread's priority so the process's own start (checks, binding) goes first.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WARM_UP_NICENESS)
        try:
            warm_up()
        except Exception:
            logger.exception("gateway warm-up failed; the first call will import litellm")
            return
        logger.info("gateway warm: litellm ready in %.1f s", time.perf_counter() - started)

    thread = threading.Thread(target=run, name="gateway-warm-up", daemon=True)
    thread.start()
    return thread
