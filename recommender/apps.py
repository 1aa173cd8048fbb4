"""App config for the recommender."""

from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
