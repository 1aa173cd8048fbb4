"""Rule candidates: which tips a user's task list produces, and what they say."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from generation.candidates import BODY_MAX, TITLE_MAX, TipKind, TipSource
from recommender.task_rules import (
    BATCH_MAX_TASKS,
    OVERLOAD_TASKS,
    PLAN_BEFORE_HOUR,
    RULES_VERSION,
    rule_candidates,
)
from recommender.tests.factories import NOW, task


def kinds(candidates):
    return [c.kind for c in candidates]


def of_kind(candidates, kind):
    return [c for c in candidates if c.kind == kind]


def test_it_suggests_nothing_without_open_tasks():
    assert rule_candidates([], now=NOW) == []
    assert rule_candidates([task("1", checked=True, due_in=-3)], now=NOW) == []


def test_it_suggests_doing_the_most_urgent_task_now():
    tasks = [
        task("low", priority=1, due_in=1),
        task("p4", "Call the bank", priority=4, due_in=2),
        task("late", "Send the invoice", priority=2, due_in=-2),
    ]
    do_now = of_kind(rule_candidates(tasks, now=NOW), TipKind.DO_NOW)
    # Overdue beats priority, priority beats due date; two of them so the policy has a choice.
    assert [c.task_ids for c in do_now] == [("late",), ("p4",)]
    assert "Send the invoice" in do_now[0].title
    assert "2 days overdue" in do_now[0].rationale
    assert all(c.source == TipSource.TODOIST and c.prompt_version == RULES_VERSION for c in do_now)
    assert all(c.llm_model is None for c in do_now)


def test_it_asks_to_reschedule_only_when_overdue_work_piles_up():
    two = [task("a", due_in=-1), task("b", due_in=-5)]
    assert not of_kind(rule_candidates(two, now=NOW), TipKind.RESCHEDULE)
    three = [*two, task("c", due_in=-9), task("d", due_in=3)]
    (tip,) = of_kind(rule_candidates(three, now=NOW), TipKind.RESCHEDULE)
    assert tip.task_ids == ("c", "b", "a")  # most overdue first; the task due later is not named
    assert "3 overdue" in tip.title


def test_it_batches_small_tasks_that_share_a_label():
    tasks = [
        task("m1", "Email Ann", labels=("email",), duration_minutes=5),
        task("m2", "Email Bob", labels=("email",), duration_minutes=10),
        task("m3", "Email Cy", labels=("email",)),  # no duration, short, low priority: small
        task("big", "Email the board report", labels=("email",), duration_minutes=90),
        task("p1", "Buy milk", project_id="home"),
    ]
    (tip,) = of_kind(rule_candidates(tasks, now=NOW), TipKind.BATCH)
    assert set(tip.task_ids) == {"m1", "m2", "m3"}
    assert "email" in tip.rationale


def test_it_batches_by_project_when_no_label_groups_enough_and_caps_the_batch():
    tasks = [task(f"t{i}", f"Fix typo {i}", project_id="site", duration_minutes=5) for i in range(9)]
    (tip,) = of_kind(rule_candidates(tasks, now=NOW), TipKind.BATCH)
    assert len(tip.task_ids) == BATCH_MAX_TASKS
    assert "same project" in tip.rationale


def test_it_does_not_batch_fewer_than_three_small_tasks():
    tasks = [task("a", labels=("call",), duration_minutes=5), task("b", labels=("call",), duration_minutes=5)]
    assert not of_kind(rule_candidates(tasks, now=NOW), TipKind.BATCH)


def test_it_suggests_breaking_down_the_task_that_sat_undone_longest():
    tasks = [
        task("fresh", age=2),
        task("old", "Write the thesis", age=40),
        task("older_recurring", "Water plants", age=400, is_recurring=True),
        task("late", due_in=-10, age=12),
    ]
    (tip,) = of_kind(rule_candidates(tasks, now=NOW), TipKind.BREAK_DOWN)
    assert tip.task_ids == ("old",)  # 40 days open beats 10 days overdue (scored 20); recurring never stuck
    assert "open for 40 days" in tip.rationale


def test_it_suggests_breaking_down_a_big_task():
    (tip,) = of_kind(rule_candidates([task("big", duration_minutes=240, age=1)], now=NOW), TipKind.BREAK_DOWN)
    assert tip.task_ids == ("big",)
    assert "240 minutes" in tip.rationale


def test_it_suggests_planning_only_at_the_start_of_a_busy_day():
    busy = [task("a", due_in=0), task("b", due_in=0), task("c", due_in=-1), task("d", due_in=4)]
    (tip,) = of_kind(rule_candidates(busy, now=NOW), TipKind.PLAN)
    assert set(tip.task_ids) == {"a", "b", "c"}
    afternoon = NOW.replace(hour=PLAN_BEFORE_HOUR)
    assert not of_kind(rule_candidates(busy, now=afternoon), TipKind.PLAN)
    assert not of_kind(rule_candidates(busy[:2], now=NOW), TipKind.PLAN)


def test_it_uses_the_users_local_time_for_the_start_of_the_day():
    from zoneinfo import ZoneInfo

    busy = [task("a", due_in=0), task("b", due_in=0), task("c", due_in=-1)]
    tokyo_evening = NOW.astimezone(ZoneInfo("Asia/Tokyo"))  # 17:30 there
    assert not of_kind(rule_candidates(busy, now=tokyo_evening), TipKind.PLAN)


def test_it_suggests_a_break_when_overloaded():
    tasks = [task(str(i), due_in=0) for i in range(OVERLOAD_TASKS)]
    (tip,) = of_kind(rule_candidates(tasks, now=NOW), TipKind.WELLBEING)
    assert tip.task_ids == ()
    assert not of_kind(rule_candidates(tasks[:-1], now=NOW), TipKind.WELLBEING)


def test_it_treats_a_task_due_earlier_today_at_a_time_as_overdue():
    fixed = NOW - timedelta(hours=1)
    floating = (NOW - timedelta(hours=1)).replace(tzinfo=None)  # naive: wall-clock time where the user is
    for due in (fixed, floating):
        tasks = [task("t", due_in=0, due_datetime=due), task("u", priority=4, due_in=0)]
        do_now = of_kind(rule_candidates(tasks, now=NOW), TipKind.DO_NOW)
        assert do_now[0].task_ids == ("t",)
    later = [task("t", due_in=0, due_datetime=floating + timedelta(hours=3)), task("u", priority=4, due_in=0)]
    assert of_kind(rule_candidates(later, now=NOW), TipKind.DO_NOW)[0].task_ids == ("u",)


@pytest.mark.clock
@time_machine.travel(datetime(2026, 6, 15, 10, 23, tzinfo=UTC), tick=False)  # 12:23 in Berlin
def test_a_task_whose_due_time_passed_today_was_due_at_that_time_not_due_today():
    berlin = ZoneInfo("Europe/Berlin")
    now = timezone.now().astimezone(berlin)
    today = date(2026, 6, 15)
    eleven = datetime(2026, 6, 15, 11, 0, tzinfo=berlin)
    for due in (eleven.astimezone(UTC), eleven.replace(tzinfo=None)):  # a fixed time (UTC), a floating one
        passed = task("t", "Send the invoice", due_date=today, due_datetime=due)
        (tip, *_) = of_kind(rule_candidates([passed], now=now), TipKind.DO_NOW)
        assert tip.rationale == "It was due at 11:00 and is overdue.", due
    later = task("u", due_date=today, due_datetime=datetime(2026, 6, 15, 15, 0, tzinfo=berlin))
    assert of_kind(rule_candidates([later], now=now), TipKind.DO_NOW)[0].rationale == "It is due today."


def test_it_keeps_texts_within_the_contract_limits():
    long = "word " * 200
    tasks = [task(str(i), long, due_in=-30, age=90, duration_minutes=300) for i in range(10)]
    candidates = rule_candidates(tasks, now=NOW)
    assert {TipKind.DO_NOW, TipKind.RESCHEDULE, TipKind.BREAK_DOWN, TipKind.PLAN, TipKind.WELLBEING} <= set(
        kinds(candidates)
    )
    assert all(len(c.title) <= TITLE_MAX and len(c.body) <= BODY_MAX for c in candidates)
    assert len({c.key for c in candidates}) == len(candidates)  # no rule repeats another
