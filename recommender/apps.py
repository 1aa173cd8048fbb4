"""App config for the recommender."""

from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"

    def ready(self) -> None:
        # Imported once the app registry is ready: both import models.
        from integrations.signals import task_completed
        from recommender import checks  # noqa: F401  (registers the system checks)
        from recommender.signals import on_task_completed

        # dispatch_uid: connected once however often ready() runs (tests, autoreload).
        task_completed.connect(on_task_completed, dispatch_uid="recommender.credit_task_completion")
