"""The project package as an app, so its management commands are found and its signal receivers connected."""

from django.apps import AppConfig


class TipengineConfig(AppConfig):
    name = "tipengine"

    def ready(self) -> None:
        # Connect signal receivers: the token cache's, the tasks' metrics, the request id's.
        from tipengine import auth, monitoring, request_id  # noqa: F401
