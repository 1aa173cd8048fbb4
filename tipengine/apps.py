"""The project package as an app, so its management commands are found."""

from django.apps import AppConfig


class TipengineConfig(AppConfig):
    name = "tipengine"
