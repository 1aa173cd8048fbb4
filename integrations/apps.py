"""App config for the Todoist integration."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        # Project imports wait for ready(): models cannot load while the app registry is being built.
        from integrations.models import Integration
        from integrations.services import tasks_cache_key
        from tipengine.caching import forget_on_change

        # A connected, disconnected or refused integration must not keep answering from the cached task list.
        forget_on_change(Integration, lambda integration: tasks_cache_key(integration.user_id))
