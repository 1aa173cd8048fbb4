"""App config for the Todoist integration."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
