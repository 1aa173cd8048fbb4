"""Routes under /api/v1/integrations/."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
