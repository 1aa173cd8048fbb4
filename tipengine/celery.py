"""The Celery application: broker and beat schedule come from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")

app = Celery("tipengine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
