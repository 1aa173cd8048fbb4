"""The project package as an app, so its management commands are found and its signal receivers connected."""

from django.apps import AppConfig


class TipengineConfig(AppConfig):
    name = "tipengine"

    def ready(self) -> None:
        from tipengine import auth  # noqa: F401  (connects the token cache's signal receivers)
