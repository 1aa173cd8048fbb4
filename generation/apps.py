"""App config for LLM tip generation (the LiteLLM gateway client, prompts and the candidate pool)."""

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery, current_app
from celery.signals import worker_process_init, worker_ready
from django.apps import AppConfig


def serves_with_runserver(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """True in the process that `manage.py runserver` serves requests from (not the autoreloader's parent)."""
    if len(argv) < 2 or argv[1] != "runserver":
        return False
    return environ.get("RUN_MAIN") == "true" or "--noreload" in argv


def serves_llm_work(app: Celery) -> bool:
    """True when this Celery worker consumes a queue that LLM work is routed to (CELERY_TASK_ROUTES: the `llm` queue).

    `celery worker -Q` selects the queues in the worker's parent before its pool forks, so a prefork child knows
    them too. A worker without -Q consumes the default queue only.
    """
    llm_queues = {route["queue"] for route in (app.conf.task_routes or {}).values()}
    return not llm_queues.isdisjoint(app.amqp.queues.consume_from)


def warm_the_gateway(**_: Any) -> None:
    """A Celery prefork child (or the solo pool) of a worker for LLM work imports litellm as it starts, not inside
    its first refresh. Other workers never import it (~250 MB a process): their tasks make no LLM calls.

    In the background, so the worker takes tasks at once; a task that needs the gateway meanwhile waits on
    the same import. Not in the prefork parent: a thread importing there while the pool forks could leave
    the children a held import lock.
    """
    from generation.gateway import warm_up_in_background

    if serves_llm_work(current_app):
        warm_up_in_background()


def warm_the_gateway_in_a_thread_pool(sender: Any = None, **_: Any) -> None:
    """The threads pool runs tasks in the worker's own process and sends no worker_process_init."""
    if type(getattr(sender, "pool", None)).__module__ == "celery.concurrency.thread":
        warm_the_gateway()


class GenerationConfig(AppConfig):
    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Project imports wait for ready(): models cannot load while the app registry is being built.
        from django.test.signals import setting_changed

        from generation import gateway, structured

        # A changed gateway setting (tests, override_settings) must not keep using the old router or alias file.
        def rebuild_router(*, setting: str, **_: object) -> None:
            if setting in {"LITELLM_CONFIG_PATH", "LITELLM_URL", *gateway.SETTINGS_REFERENCES}:
                gateway.reset_router()
                structured.reset()

        setting_changed.connect(rebuild_router, weak=False, dispatch_uid="generation.rebuild_router")

        from generation.cache_keys import pool_key
        from generation.models import CandidatePool
        from tipengine.caching import forget_on_change

        # Serving caches each user's pool (generation.selectors.fresh_pool) until it expires or changes.
        forget_on_change(CandidatePool, lambda pool: pool_key(pool.user_id))

        # Processes that will call the gateway import litellm as they start, beside their work, never inside a
        # budget: runserver (`make run`) and the Celery workers of the llm queue here; gunicorn workers in
        # gunicorn.conf.py.
        if serves_with_runserver(sys.argv, os.environ):
            gateway.warm_up_in_background()
        worker_process_init.connect(warm_the_gateway, weak=False, dispatch_uid="generation.warm_the_gateway")
        worker_ready.connect(
            warm_the_gateway_in_a_thread_pool, weak=False, dispatch_uid="generation.warm_the_gateway_threads"
        )

        from generation.breaker import breaker_state_metrics
        from tipengine.metrics import register_scrape_time

        register_scrape_time(breaker_state_metrics)
