"""The Todoist task as the rest of tipengine sees it, independent of the API's wire format."""

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class TodoistTask:
    """An active (or just completed) Todoist task; priority 4 is the most urgent."""

    id: str
    content: str
    description: str = ""
    priority: int = 1
    due_date: date | None = None
    due_datetime: datetime | None = None
    is_recurring: bool = False
    deadline: date | None = None
    duration_minutes: int | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)
    project_id: str | None = None
    added_at: datetime | None = None
    checked: bool = False

    def overdue_days(self, today: date) -> int:
        """Return how many whole days the task is past its due date (0 when not overdue or undated)."""
        if self.due_date is None:
            return 0
        return max((today - self.due_date).days, 0)

    def is_due_by(self, today: date) -> bool:
        """Return True when the task is due today or earlier."""
        return self.due_date is not None and self.due_date <= today
