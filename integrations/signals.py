"""Signals the integration sends for other apps to act on."""

from django.dispatch import Signal

# Sent once per Todoist task completion (webhook or pull), with kwargs user_id, task_id, completed_at.
task_completed = Signal()

# Sent after the commit that changed where a user's tasks come from (connected, reconnected, switched between
# Todoist and the sample tasks, or disconnected), with kwargs user_id and connected (tasks readable now).
task_source_changed = Signal()
