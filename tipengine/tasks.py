"""Project-wide Celery tasks."""

from celery import shared_task

from tipengine.background import outbox_flush


@shared_task(name="tipengine.flush_outbox", ignore_result=True)
def flush_outbox() -> int:
    """Send the background work kept while the broker was down (beat, every OUTBOX_FLUSH_INTERVAL_S)."""
    return outbox_flush()
