"""Rule candidates: tips derived from the user's open Todoist tasks, without the LLM.

Every rule is a small function `(TaskView) -> list[TipCandidate]`; `rule_candidates` runs them all.
The thresholds below are the documented defaults (docs/recommender.md); they are constants, not settings,
because changing one changes what an arm means and so bumps `RULES_VERSION`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

from generation.candidates import BODY_MAX, RATIONALE_MAX, TITLE_MAX, TipCandidate, TipKind, TipSource
from integrations.todoist.types import TodoistTask

RULES_VERSION = "rules-v1"

DO_NOW_TOP = 2  # do_now tips for the N most urgent tasks, so the policy has a choice
RESCHEDULE_MIN_OVERDUE = 3  # overdue work "piles up" from this many overdue tasks
RESCHEDULE_MAX_TASKS = 5
BATCH_MIN_TASKS = 3
BATCH_MAX_TASKS = 6
SMALL_TASK_MINUTES = 15  # a task with a known duration up to this is small
SMALL_TASK_MAX_CHARS = 40  # without a duration: low priority, no description, short content
STUCK_AGE_DAYS = 14  # open this long (or overdue STUCK_OVERDUE_DAYS) counts as stuck
STUCK_OVERDUE_DAYS = 7
BIG_TASK_MINUTES = 120
PLAN_BEFORE_HOUR = 11  # "the start of the day", in the user's local time
PLAN_MIN_TASKS = 3  # tasks due today or overdue
OVERLOAD_TASKS = 8  # due today or overdue: suggest a pause and a short list


@dataclass(frozen=True)
class TaskView:
    """The user's open tasks as seen at one instant in their local time, with the derived facts rules share."""

    tasks: tuple[TodoistTask, ...]
    now: datetime  # aware, in the user's time zone

    @property
    def today(self) -> date:
        return self.now.date()

    def overdue_days(self, task: TodoistTask) -> int:
        """Whole days past due; a task due earlier today at a fixed time counts as 0 but is overdue."""
        return task.overdue_days(self.today)

    def is_overdue(self, task: TodoistTask) -> bool:
        due = task.due_datetime
        if due is not None:
            # A floating due time (naive) means that wall-clock time wherever the user is.
            return due < (self.now.replace(tzinfo=None) if due.tzinfo is None else self.now)
        return task.due_date is not None and task.due_date < self.today

    def local_due_time(self, task: TodoistTask) -> str | None:
        """The task's due time as HH:MM on the user's clock, or None for a task due on a day only."""
        due = task.due_datetime
        if due is None:
            return None
        return f"{due if due.tzinfo is None else due.astimezone(self.now.tzinfo):%H:%M}"

    def age_days(self, task: TodoistTask) -> int | None:
        return None if task.added_at is None else max((self.now - task.added_at).days, 0)

    @cached_property
    def by_urgency(self) -> list[TodoistTask]:
        """Overdue first, then Todoist priority (4 most urgent), then due date (undated last)."""
        return sorted(
            self.tasks,
            key=lambda t: (not self.is_overdue(t), -t.priority, t.due_date or date.max, t.id),
        )

    @cached_property
    def overdue(self) -> list[TodoistTask]:
        """Overdue tasks, most overdue first."""
        late = [t for t in self.tasks if self.is_overdue(t)]
        return sorted(late, key=lambda t: (-self.overdue_days(t), -t.priority, t.id))

    @cached_property
    def due_today_or_overdue(self) -> list[TodoistTask]:
        return [t for t in self.by_urgency if t.is_due_by(self.today) or self.is_overdue(t)]


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _names(tasks: Sequence[TodoistTask], limit: int = 3) -> str:
    shown = ", ".join(f"“{_clip(t.content, 40)}”" for t in tasks[:limit])
    return shown + (f" and {len(tasks) - limit} more" if len(tasks) > limit else "")


def _tip(kind: TipKind, tasks: Sequence[TodoistTask], *, title: str, body: str, rationale: str) -> TipCandidate:
    return TipCandidate(
        kind=kind.value,
        source=TipSource.TODOIST.value,
        title=_clip(title, TITLE_MAX),
        body=_clip(body, BODY_MAX),
        rationale=_clip(rationale, RATIONALE_MAX),
        task_ids=tuple(str(t.id) for t in tasks),
        llm_model=None,
        prompt_version=RULES_VERSION,
        features={"rule": kind.value},
    )


def do_now(view: TaskView) -> list[TipCandidate]:
    """The most urgent tasks, one tip each: start it now."""
    tips = []
    for task in view.by_urgency[:DO_NOW_TOP]:
        late = view.overdue_days(task)
        if late:
            why = f"It is {late} day{'s' * (late != 1)} overdue"
        elif view.is_overdue(task):  # due earlier today, at a time that has passed
            why = f"It was due at {view.local_due_time(task)} and is overdue"
        elif task.is_due_by(view.today):
            why = "It is due today"
        else:
            why = "It is the most urgent task on your list"
        minutes = f" for {task.duration_minutes} minutes" if task.duration_minutes else " for 25 focused minutes"
        tips.append(
            _tip(
                TipKind.DO_NOW,
                [task],
                title=f"Do it now: {task.content}",
                body=f"Close everything else and work on “{_clip(task.content, 80)}”{minutes}.",
                rationale=f"{why}{' and marked top priority' if task.priority == 4 else ''}.",
            )
        )
    return tips


def reschedule(view: TaskView) -> list[TipCandidate]:
    """Overdue work piles up: move or drop the oldest of it."""
    if len(view.overdue) < RESCHEDULE_MIN_OVERDUE:
        return []
    oldest = view.overdue[:RESCHEDULE_MAX_TASKS]
    return [
        _tip(
            TipKind.RESCHEDULE,
            oldest,
            title=f"Reschedule {len(view.overdue)} overdue tasks",
            body=f"Give {_names(oldest)} a realistic new date, or delete what no longer matters.",
            rationale=f"{len(view.overdue)} tasks are overdue; the oldest by {view.overdue_days(oldest[0])} days.",
        )
    ]


def is_small(task: TodoistTask) -> bool:
    """A quick task: a short known duration, or (unknown duration) low priority, no description, short text."""
    if task.duration_minutes is not None:
        return task.duration_minutes <= SMALL_TASK_MINUTES
    return task.priority <= 2 and not task.description.strip() and len(task.content) <= SMALL_TASK_MAX_CHARS


def batch(view: TaskView) -> list[TipCandidate]:
    """Several small tasks that share a label (else a project): do them in one sitting."""
    groups: dict[str, list[TodoistTask]] = defaultdict(list)
    for task in view.by_urgency:
        if not is_small(task):
            continue
        for label in task.labels:
            groups[f"label “{label}”"].append(task)
        if task.project_id:
            groups[f"project:{task.project_id}"].append(task)
    candidates = [(name, tasks) for name, tasks in groups.items() if len(tasks) >= BATCH_MIN_TASKS]
    if not candidates:
        return []
    # Labels say "similar" more precisely than projects: prefer them, then the bigger group.
    name, tasks = max(candidates, key=lambda item: (item[0].startswith("label"), len(item[1]), item[0]))
    tasks = tasks[:BATCH_MAX_TASKS]
    shared = name if name.startswith("label") else "the same project"
    return [
        _tip(
            TipKind.BATCH,
            tasks,
            title=f"Batch {len(tasks)} quick tasks in one sitting",
            body=f"Set a 30-minute timer and clear {_names(tasks)} back to back.",
            rationale=f"They are small and share {shared}; one context switch instead of {len(tasks)}.",
        )
    ]


def break_down(view: TaskView) -> list[TipCandidate]:
    """The most stuck task (open long, long overdue, or big): split it into a first small step."""

    def stuckness(task: TodoistTask) -> int:
        age = view.age_days(task) or 0
        late = view.overdue_days(task)
        big = (task.duration_minutes or 0) >= BIG_TASK_MINUTES
        if age < STUCK_AGE_DAYS and late < STUCK_OVERDUE_DAYS and not big:
            return 0
        return max(age, 2 * late, STUCK_AGE_DAYS if big else 0)

    # Recurring tasks come back by design; being old says nothing about them being stuck.
    scored = [(stuckness(t), t) for t in view.tasks if not t.is_recurring]
    scored = [(s, t) for s, t in scored if s > 0]
    if not scored:
        return []
    _, task = max(scored, key=lambda item: (item[0], item[1].priority, item[1].id))
    age, late = view.age_days(task), view.overdue_days(task)
    if late >= STUCK_OVERDUE_DAYS:
        why = f"It has been overdue for {late} days"
    elif age is not None and age >= STUCK_AGE_DAYS:
        why = f"It has been open for {age} days"
    else:
        why = f"It is estimated at {task.duration_minutes} minutes"
    return [
        _tip(
            TipKind.BREAK_DOWN,
            [task],
            title=f"Break down: {task.content}",
            body=f"Write the three smallest next steps of “{_clip(task.content, 80)}” and do the first one today.",
            rationale=f"{why}; a first step that takes 10 minutes is easier to start.",
        )
    ]


def plan(view: TaskView) -> list[TipCandidate]:
    """At the start of the day with several tasks due: pick the three that matter before starting."""
    due = view.due_today_or_overdue
    if view.now.hour >= PLAN_BEFORE_HOUR or len(due) < PLAN_MIN_TASKS:
        return []
    top = due[:3]
    return [
        _tip(
            TipKind.PLAN,
            top,
            title=f"Plan your day: {len(due)} tasks are due",
            body=f"Before starting, choose the three that matter most (maybe {_names(top)}) and block time for them.",
            rationale=f"It is the start of your day and {len(due)} tasks are due today or overdue.",
        )
    ]


def wellbeing(view: TaskView) -> list[TipCandidate]:
    """Overloaded: a short list and a real break beat a long list."""
    due = view.due_today_or_overdue
    if len(due) < OVERLOAD_TASKS:
        return []
    return [
        _tip(
            TipKind.WELLBEING,
            [],
            title="Too much on your plate: take a short break first",
            body="Step away for ten minutes, then pick three tasks for today and move the rest.",
            rationale=f"{len(due)} tasks are due today or overdue; nobody finishes that many well.",
        )
    ]


RULES: tuple[Callable[[TaskView], list[TipCandidate]], ...] = (do_now, reschedule, batch, break_down, plan, wellbeing)


def rule_candidates(tasks: Iterable[TodoistTask], *, now: datetime) -> list[TipCandidate]:
    """Return every rule tip for these tasks at `now` (aware, in the user's time zone); checked tasks ignored."""
    view = TaskView(tasks=tuple(t for t in tasks if not t.checked), now=now)
    if not view.tasks:
        return []
    return [candidate for rule in RULES for candidate in rule(view)]
