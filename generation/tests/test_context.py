"""build_context: urgency order, the user's local date, counts, feedback, bounded size."""

from datetime import UTC, datetime

from django.test import SimpleTestCase, override_settings

from generation.context import build_context
from generation.tests.utils import NOW, sample_context, task


class BuildContextTests(SimpleTestCase):
    def test_it_sorts_overdue_first_then_priority_then_due_date(self):
        tasks = [
            task("undated-p4", priority=4),
            task("later-p1", priority=1, due_in_days=5),
            task("soon-p1", priority=1, due_in_days=1),
            task("overdue-p1", priority=1, due_in_days=-1),
            task("today-p4", priority=4, due_in_days=0),
            task("overdue-p3-old", priority=3, due_in_days=-9),
            task("overdue-p3", priority=3, due_in_days=-2),
        ]
        context = sample_context(tasks=tasks)
        self.assertEqual(
            [t.id for t in context.tasks],
            ["overdue-p3-old", "overdue-p3", "overdue-p1", "today-p4", "undated-p4", "soon-p1", "later-p1"],
        )
        self.assertEqual(context.tasks[0].overdue_days, 9)

    def test_it_counts_open_overdue_and_due_today_and_skips_completed_tasks(self):
        tasks = [
            task("a", due_in_days=-1),
            task("b", due_in_days=0),
            task("c", due_in_days=0),
            task("d"),
            task("done", due_in_days=-3, checked=True),
        ]
        counts = sample_context(tasks=tasks).counts
        self.assertEqual((counts.open, counts.overdue, counts.due_today, counts.not_shown), (4, 1, 2, 0))

    def test_it_uses_the_users_local_date(self):
        late_evening_utc = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
        tasks = [task("due-10th", due_in_days=0)]
        tokyo = build_context(tasks=tasks, tz="Asia/Tokyo", now=late_evening_utc)
        utc = build_context(tasks=tasks, tz="UTC", now=late_evening_utc)
        self.assertEqual((str(tokyo.local_date), tokyo.timezone), ("2026-03-11", "Asia/Tokyo"))
        self.assertEqual((tokyo.counts.overdue, utc.counts.due_today), (1, 1))  # already yesterday in Tokyo

    @override_settings(TIME_ZONE="Europe/Berlin")
    def test_it_defaults_to_the_site_time_zone_and_survives_an_unknown_one(self):
        self.assertEqual(build_context(tasks=[], now=NOW).timezone, "Europe/Berlin")
        self.assertEqual(build_context(tasks=[], tz="Mars/Olympus", now=NOW).timezone, "Europe/Berlin")

    def test_it_treats_a_past_due_time_today_as_overdue(self):
        due_this_morning = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
        [shown] = sample_context(tasks=[task("t", due_in_days=0, due_datetime=due_this_morning)]).tasks
        self.assertEqual(shown.due, "2026-03-10T09:00+00:00")
        self.assertEqual(
            sample_context(tasks=[task("t", due_in_days=0, due_datetime=due_this_morning)]).counts.overdue, 1
        )

    def test_it_reads_a_floating_due_time_as_the_users_local_time(self):
        floating = datetime(2026, 3, 10, 13, 0)  # no zone: 13:00 wherever the user is
        tasks = [task("t", due_in_days=0, due_datetime=floating)]
        # 12:00 UTC is 13:00 in Berlin (not yet overdue) and 21:00 in Tokyo (overdue).
        berlin = build_context(tasks=tasks, tz="Europe/Berlin", now=NOW)
        tokyo = build_context(tasks=tasks, tz="Asia/Tokyo", now=NOW)
        self.assertEqual((berlin.counts.overdue, berlin.counts.due_today), (0, 1))
        self.assertEqual(berlin.tasks[0].due, "2026-03-10T13:00+01:00")
        self.assertEqual(tokyo.counts.overdue, 1)

    def test_it_caps_the_number_of_tasks_keeping_the_most_urgent(self):
        tasks = [task(str(i), priority=1 + i % 4) for i in range(50)]
        context = sample_context(tasks=tasks, max_tasks=10)
        self.assertEqual(len(context.tasks), 10)
        self.assertTrue(all(t.priority == 4 for t in context.tasks))
        self.assertEqual(context.counts.not_shown, 40)

    def test_it_caps_the_characters_and_cuts_long_text(self):
        tasks = [task(str(i), "word " * 500, description="detail " * 500) for i in range(30)]
        context = sample_context(tasks=tasks, max_chars=2000)
        self.assertLessEqual(sum(len(str(t.as_prompt_dict())) for t in context.tasks), 2400)
        self.assertTrue(all(len(t.content) <= 200 and len(t.description) <= 200 for t in context.tasks))
        self.assertEqual(context.counts.not_shown, 30 - len(context.tasks))

    def test_it_keeps_feedback_for_known_kinds_only(self):
        feedback = {"do_now": {"accepted": 3, "dismissed": 0}, "astrology": {"accepted": 9}, "plan": {}}
        self.assertEqual(sample_context(feedback=feedback).feedback, {"do_now": {"accepted": 3}})

    def test_it_fingerprints_what_the_prompt_would_show(self):
        base = sample_context()
        self.assertEqual(base.fingerprint(), sample_context().fingerprint())
        self.assertNotEqual(base.fingerprint(), sample_context(feedback={"plan": {"accepted": 1}}).fingerprint())
        self.assertNotEqual(base.fingerprint(), sample_context(tasks=[task("x")]).fingerprint())
