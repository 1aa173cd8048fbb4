"""App config for LLM tip generation (the LiteLLM gateway client, prompts and the candidate pool)."""

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Project imports wait for ready(): models cannot load while the app registry is being built.
        from django.test.signals import setting_changed

        from generation import gateway

        # A changed gateway setting (tests, override_settings) must not keep using the old router.
        def rebuild_router(*, setting: str, **_: object) -> None:
            if setting in {"LITELLM_CONFIG_PATH", "LITELLM_URL", *gateway.SETTINGS_REFERENCES}:
                gateway.reset_router()

        setting_changed.connect(rebuild_router, weak=False, dispatch_uid="generation.rebuild_router")

        from generation.models import CandidatePool
        from generation.selectors import pool_cache_key
        from tipengine.caching import forget_on_change

        # Serving caches each user's pool (generation.selectors.fresh_pool) until it expires or changes.
        forget_on_change(CandidatePool, lambda pool: pool_cache_key(pool.user_id))

        from generation.breaker import breaker_state_metrics
        from tipengine.metrics import register_scrape_time

        register_scrape_time(breaker_state_metrics)
