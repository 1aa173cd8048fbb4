"""Test settings: the real settings, with background work run inline so tests see its effects."""

import os

os.environ.setdefault("DEBUG", "1")

from tipengine.settings import *  # noqa: F403

TASKS_MODE = "inline"
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed: users are created per test
SECURE_SSL_REDIRECT = False
# No collectstatic before tests: the test runner turns DEBUG off, and the manifest storage would then want it.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
