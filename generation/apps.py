"""App config for LLM tip generation (the LiteLLM gateway client, prompts and the candidate pool)."""

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.test.signals import setting_changed

        from generation import gateway

        # A changed gateway setting (tests, override_settings) must not keep using the old router.
        def rebuild_router(*, setting: str, **_: object) -> None:
            if setting in {"LITELLM_CONFIG_PATH", "LITELLM_URL", *gateway.SETTINGS_REFERENCES}:
                gateway.reset_router()

        setting_changed.connect(rebuild_router, weak=False, dispatch_uid="generation.rebuild_router")
