"""The Celery application: broker and beat schedule come from Django settings (CELERY_*)."""

import os
import sys

from celery import Celery

from tipengine.metrics_dir import prepare_multiprocess_dir

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
# A worker's pool processes count metrics into one directory that its exporter sums (ADR 0074). It must be set
# before prometheus_client is imported, which django.setup() does before Celery's first worker signal fires.
if "worker" in sys.argv[1:]:
    prepare_multiprocess_dir()

app = Celery("tipengine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
