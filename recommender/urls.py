"""Routes under /api/v1/tips/."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
