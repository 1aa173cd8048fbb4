"""App config for LLM tip generation (the LiteLLM gateway client, prompts and the candidate pool)."""

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"
