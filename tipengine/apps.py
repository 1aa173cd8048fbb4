"""The project package as an app, so its management commands are found and its signal receivers connected."""

from django.apps import AppConfig


class TipengineConfig(AppConfig):
    name = "tipengine"

    def ready(self) -> None:
        from django.core.signals import request_started

        # Connect signal receivers: the token cache's, the tasks' metrics, the request id's.
        from tipengine import auth, monitoring, request_id  # noqa: F401
        from tipengine.periodic import periodic_start

        # The first request a process serves starts its in-process beat (when there is no Celery beat).
        request_started.connect(periodic_start, dispatch_uid="tipengine.periodic_start")
