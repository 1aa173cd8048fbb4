"""App config for LLM tip generation (the LiteLLM gateway client, prompts and the candidate pool)."""

import os
import sys
from collections.abc import Mapping, Sequence

from django.apps import AppConfig


def serves_with_runserver(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """True in the process that `manage.py runserver` serves requests from (not the autoreloader's parent)."""
    if len(argv) < 2 or argv[1] != "runserver":
        return False
    return environ.get("RUN_MAIN") == "true" or "--noreload" in argv


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

        from generation.models import CandidatePool
        from generation.selectors import pool_cache_key
        from tipengine.caching import forget_on_change

        # Serving caches each user's pool (generation.selectors.fresh_pool) until it expires or changes.
        forget_on_change(CandidatePool, lambda pool: pool_cache_key(pool.user_id))

        # `make run` serves with runserver: import litellm beside it, not inside the first request's budget
        # (gunicorn workers do it in gunicorn.conf.py, Celery workers in tipengine/celery.py).
        if serves_with_runserver(sys.argv, os.environ):
            gateway.warm_up_in_background()
