"""The outbox: background work the broker could not take, kept in PostgreSQL until it can."""

from django.db import models


class PendingTask(models.Model):
    """A Celery task (by name, with JSON arguments) that could not be published; `tipengine.flush_outbox`
    publishes it once the broker is back, then deletes the row."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    error = models.CharField(max_length=300, blank=True)  # why the broker refused it, for operators

    class Meta:
        db_table = "pending_tasks"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"
