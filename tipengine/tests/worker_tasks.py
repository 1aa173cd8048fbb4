"""A task for the worker-kill test: marks where it started, works for a while, marks where it finished."""

import os
import time
from pathlib import Path

from celery import shared_task


@shared_task(name="tipengine.tests.work_then_mark", ignore_result=True)
def work_then_mark(folder: str, work_s: float) -> None:
    Path(folder, f"started-{os.getpid()}").touch()
    finish = time.monotonic() + work_s
    while time.monotonic() < finish:  # stands for a long task (an LLM refresh, a big backfill)
        time.sleep(0.05)
    Path(folder, "done").write_text(str(os.getpid()))
