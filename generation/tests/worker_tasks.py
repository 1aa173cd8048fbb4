"""A task for the worker warm-up test: writes down whether its worker process has litellm, or is importing it."""

import json
import sys
import threading
from pathlib import Path

from celery import shared_task


@shared_task(name="generation.tests.report_litellm", ignore_result=True)
def report_litellm(path: str) -> None:
    warming = any(thread.name == "gateway-warm-up" for thread in threading.enumerate())
    Path(path).write_text(json.dumps({"imported": "litellm" in sys.modules, "warming": warming}))
