"""tipengine: a self-hosted recommender for LLM-generated productivity tips."""

from tipengine.celery import app as celery_app

__all__ = ["celery_app"]
