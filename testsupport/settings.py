"""Test settings: the real settings, with background work run inline so tests see its effects.

With no DATABASE_URL the run gets its own embedded PostgreSQL, and with no REDIS_URL its own redis-server when
one is installed (testsupport/private_services.py, ADR 0060).
"""

import os

from testsupport.private_services import provide_postgres, provide_redis

os.environ.setdefault("DEBUG", "1")
provide_postgres()
provide_redis()

from tipengine.settings import *  # noqa: E402, F403

TASKS_MODE = "inline"
PERIODIC_IN_PROCESS = False  # tests run periodic jobs themselves, when they mean to
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed: users are created per test
SECURE_SSL_REDIRECT = False
# No collectstatic before tests: the test runner turns DEBUG off, and the manifest storage would then want it.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
