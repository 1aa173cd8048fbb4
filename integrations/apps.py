"""App config for the Todoist integration."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        # Project imports wait for ready(): models cannot load while the app registry is being built.
        from integrations.cache_keys import open_tasks_key, time_zone_key
        from integrations.models import Integration
        from tipengine.caching import forget_on_change

        # A connected, disconnected or refused integration must not keep answering from the cached task list
        # (nor in the time zone of the account it had before).
        forget_on_change(Integration, lambda i: [open_tasks_key(i.user_id), time_zone_key(i.user_id)])
