"""App config for the recommender."""

from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"

    def ready(self) -> None:
        # Imported once the app registry is ready: both import models.
        from integrations.signals import task_completed, task_source_changed
        from recommender import checks  # noqa: F401  (registers the system checks)
        from recommender.signals import on_task_completed, on_task_source_changed

        # dispatch_uid: connected once however often ready() runs (tests, autoreload).
        task_completed.connect(on_task_completed, dispatch_uid="recommender.credit_task_completion")
        task_source_changed.connect(on_task_source_changed, dispatch_uid="recommender.pool_follows_task_source")

        from recommender.selectors.contextual import policy_model_metrics
        from tipengine.metrics import register_scrape_time

        register_scrape_time(policy_model_metrics)
