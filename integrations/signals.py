"""Signals the integration sends for other apps to act on."""

from django.dispatch import Signal

# Sent once per Todoist task completion (webhook or pull), with kwargs user_id, task_id, completed_at.
task_completed = Signal()
