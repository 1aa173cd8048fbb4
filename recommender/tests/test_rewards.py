"""The reward table, reward windows closing, and Todoist completions credited to tips."""

from datetime import timedelta
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.test import SimpleTestCase, override_settings
from django.utils import timezone

from integrations.signals import task_completed
from recommender.models import FeedbackEvent, TipScore
from recommender.reward_table import DEFAULT_REWARD, REWARDS, TERMINAL_ACTIONS, Action, infer_reward, is_terminal
from recommender.services.feedback import feedback_record
from recommender.services.rewards import rewards_finalize_expired, tips_credit_completion
from recommender.tasks import finalize_rewards
from recommender.tests.feedback_support import candidate, serve, stats_snapshot, tip
from testsupport.cases import BaseTestCase
from tipengine.background import enqueue


class RewardTableTests(SimpleTestCase):
    def test_it_maps_every_action_to_the_documented_reward(self):
        self.assertEqual(
            dict(REWARDS),
            {
                "completed": 1.0,
                "accepted": 0.75,
                "snoozed": 0.25,
                "viewed": 0.125,
                "dismissed": 0.0,
                "not_relevant": 0.0,
            },
        )
        self.assertEqual(set(REWARDS), set(Action.values))
        self.assertEqual(DEFAULT_REWARD, 0.0)

    def test_it_keeps_rewards_exact_when_summed_in_any_order(self):
        rewards = [REWARDS[a] for a in Action.values] * 1000
        self.assertEqual(sum(rewards), sum(reversed(rewards)))
        self.assertEqual(sum(rewards), 2125.0)

    def test_it_lets_the_last_explicit_action_win(self):
        self.assertEqual(infer_reward("accepted"), 0.75)
        self.assertEqual(infer_reward("snoozed", current=0.75), 0.25)
        self.assertEqual(infer_reward("completed", current=0.25), 1.0)
        self.assertEqual(infer_reward("dismissed", current=0.75), 0.0)

    def test_it_never_lets_a_view_downgrade_an_answer(self):
        self.assertEqual(infer_reward("viewed"), 0.125)
        self.assertEqual(infer_reward("viewed", current=0.75), 0.75)
        self.assertEqual(infer_reward("viewed", current=0.0), 0.0)

    def test_it_rejects_an_unknown_action(self):
        with self.assertRaisesMessage(ValueError, "Unknown feedback action 'liked'"):
            infer_reward("liked")

    def test_it_ends_the_window_only_on_terminal_actions(self):
        self.assertEqual(TERMINAL_ACTIONS, {"completed", "dismissed", "not_relevant"})
        self.assertTrue(is_terminal("completed"))
        self.assertFalse(is_terminal("accepted"))
        self.assertFalse(is_terminal("snoozed"))


class RewardWindowTests(BaseTestCase):
    def test_it_gives_silent_tips_the_default_reward_when_the_window_closes(self):
        silent = tip(self.alice, hours_ago=25)
        finalized = rewards_finalize_expired()
        silent.refresh_from_db()
        self.assertEqual(finalized, 1)
        self.assertEqual(silent.reward, 0.0)
        self.assertTrue(silent.is_final)
        self.assertEqual(
            stats_snapshot(), {(None, "todoist:do_now"): (1, 0.0), (self.alice.pk, "todoist:do_now"): (1, 0.0)}
        )

    def test_it_keeps_the_provisional_reward_of_an_answered_tip(self):
        answered = tip(self.alice, hours_ago=23, kind="plan")
        feedback_record(user=self.alice, tip_id=answered.pk, action="accepted")
        self.assertEqual(rewards_finalize_expired(), 0)  # window still open
        rewards_finalize_expired(now=timezone.now() + timedelta(hours=2))
        answered.refresh_from_db()
        self.assertEqual((answered.reward, answered.last_action, answered.is_final), (0.75, "accepted", True))
        self.assertEqual(stats_snapshot()[(self.alice.pk, "todoist:plan")], (1, 0.75))

    def test_it_leaves_open_windows_and_final_tips_alone(self):
        fresh = tip(self.alice, hours_ago=1)
        done = tip(self.alice, hours_ago=30)
        feedback_record(user=self.alice, tip_id=done.pk, action="dismissed", now=done.served_at)
        before = stats_snapshot()
        self.assertEqual(rewards_finalize_expired(), 0)
        fresh.refresh_from_db()
        self.assertFalse(fresh.is_final)
        self.assertEqual(stats_snapshot(), before)

    @override_settings(TIPS_REWARD_WINDOW_H=2.0)
    def test_it_reads_the_window_from_settings(self):
        tip(self.alice, hours_ago=3)
        tip(self.alice, hours_ago=1)
        self.assertEqual(rewards_finalize_expired(), 1)

    def test_it_finalizes_in_batches_and_only_once(self):
        for _ in range(5):
            tip(self.alice, hours_ago=48, kind="batch")
        self.assertEqual(rewards_finalize_expired(batch_size=2), 5)
        self.assertEqual(rewards_finalize_expired(batch_size=2), 0)
        self.assertEqual(stats_snapshot()[(None, "todoist:batch")], (5, 0.0))

    def test_it_closes_windows_from_the_periodic_task(self):
        tip(self.alice, hours_ago=30)
        enqueue(finalize_rewards)
        self.assertEqual(TipScore.objects.filter(finalized_at__isnull=True).count(), 0)
        entry = settings.CELERY_BEAT_SCHEDULE["recommender.finalize_rewards"]
        self.assertEqual(entry["task"], finalize_rewards.name)

    def test_it_closes_windows_from_the_command(self):
        tip(self.alice, hours_ago=30)
        out = StringIO()
        call_command("finalize_rewards", stdout=out)
        self.assertIn("Finalized 1 tip(s)", out.getvalue())
        self.assertEqual(TipScore.objects.filter(finalized_at__isnull=True).count(), 0)


class CompletionCreditTests(BaseTestCase):
    def complete(self, user, task_id, at=None):
        task_completed.send(sender=None, user_id=user.pk, task_id=task_id, completed_at=at or timezone.now())

    def test_it_credits_a_completed_task_to_the_tips_that_named_it(self):
        named, other = serve(
            self.alice,
            candidate("do_now", task_ids=("42",)),
            candidate("plan", source="llm", task_ids=("7",)),
            served_at=timezone.now() - timedelta(hours=1),
        )
        self.complete(self.alice, "42")
        named.refresh_from_db()
        other.refresh_from_db()
        self.assertEqual((named.last_action, named.reward, named.is_final), ("completed", 1.0, True))
        self.assertFalse(other.is_final)
        self.assertEqual(list(named.events.values_list("action", "reward")), [("completed", 1.0)])
        self.assertEqual(
            stats_snapshot(), {(None, "todoist:do_now"): (1, 1.0), (self.alice.pk, "todoist:do_now"): (1, 1.0)}
        )

    def test_it_credits_a_completion_exactly_once_when_delivered_twice(self):
        named = tip(self.alice, hours_ago=1, task_ids=("42",))
        at = timezone.now()
        self.complete(self.alice, "42", at)
        self.complete(self.alice, "42", at)
        self.assertEqual(FeedbackEvent.objects.filter(tip=named).count(), 1)
        self.assertEqual(stats_snapshot()[(self.alice.pk, "todoist:do_now")], (1, 1.0))

    def test_it_upgrades_an_accepted_tip_to_completed(self):
        named = tip(self.alice, hours_ago=1, task_ids=("42",), kind="break_down")
        feedback_record(user=self.alice, tip_id=named.pk, action="accepted")
        self.complete(self.alice, "42")
        named.refresh_from_db()
        self.assertEqual((named.reward, named.last_action), (1.0, "completed"))
        self.assertEqual(stats_snapshot()[(None, "todoist:break_down")], (1, 1.0))

    def test_it_ignores_other_users_tips_final_tips_and_tips_served_after_the_completion(self):
        bobs = tip(self.bob, hours_ago=1, task_ids=("42",))
        dismissed = tip(self.alice, hours_ago=1, task_ids=("42",))
        feedback_record(user=self.alice, tip_id=dismissed.pk, action="dismissed")
        later = tip(self.alice, hours_ago=0, task_ids=("42",))
        credited = tips_credit_completion(
            user_id=self.alice.pk, task_id="42", completed_at=timezone.now() - timedelta(minutes=30)
        )
        self.assertEqual(credited, [])
        for row in (bobs, dismissed, later):
            row.refresh_from_db()
        self.assertFalse(bobs.is_final)
        self.assertEqual(dismissed.reward, 0.0)
        self.assertFalse(later.is_final)

    def test_it_does_not_credit_a_completion_after_the_window(self):
        old = tip(self.alice, hours_ago=30, task_ids=("42",))
        self.assertEqual(tips_credit_completion(user_id=self.alice.pk, task_id="42", completed_at=timezone.now()), [])
        old.refresh_from_db()
        self.assertIsNone(old.last_action)

    def test_one_completion_credits_only_the_latest_impression_naming_the_task(self):
        # The same tip served three times (the issue saw 12 impressions credited for one completed task).
        impressions = [tip(self.alice, hours_ago=h, task_ids=("42",)) for h in (3, 2, 1)]
        self.complete(self.alice, "42")
        rewards_finalize_expired(now=timezone.now() + timedelta(days=2))
        for row in impressions:
            row.refresh_from_db()
        self.assertEqual(
            [(r.last_action, r.reward) for r in impressions], [(None, 0.0), (None, 0.0), ("completed", 1.0)]
        )
        self.assertEqual(FeedbackEvent.objects.filter(action="completed").count(), 1)
        self.assertEqual(stats_snapshot()[(None, "todoist:do_now")], (3, 1.0))

    def test_it_prefers_the_impression_the_user_accepted(self):
        accepted = tip(self.alice, hours_ago=3, task_ids=("42",))
        feedback_record(user=self.alice, tip_id=accepted.pk, action="accepted")
        later = tip(self.alice, hours_ago=1, task_ids=("42",))
        self.assertEqual(
            tips_credit_completion(user_id=self.alice.pk, task_id="42", completed_at=timezone.now()), [accepted.pk]
        )
        later.refresh_from_db()
        self.assertIsNone(later.last_action)

    def test_a_tip_naming_several_tasks_earns_a_share_per_task_completed(self):
        batch = tip(self.alice, hours_ago=2, kind="batch", task_ids=("1", "2", "3"))
        rewards = []
        for task_id in ("1", "2", "2", "3"):  # "2" delivered twice counts once
            self.complete(self.alice, task_id)
            batch.refresh_from_db()
            rewards.append((batch.reward, batch.is_final))
        self.assertEqual(rewards, [(0.25, False), (0.625, False), (0.625, False), (1.0, True)])
        self.assertEqual(stats_snapshot()[(None, "todoist:batch")], (1, 1.0))

    def test_a_partly_completed_tip_keeps_its_share_when_the_window_closes(self):
        pair = tip(self.alice, hours_ago=2, kind="plan", task_ids=("1", "2"))
        self.complete(self.alice, "1")
        rewards_finalize_expired(now=timezone.now() + timedelta(days=2))
        pair.refresh_from_db()
        self.assertEqual((pair.reward, pair.is_final), (0.5, True))
        self.assertEqual(stats_snapshot()[(self.alice.pk, "todoist:plan")], (1, 0.5))

    def test_a_share_never_lowers_an_answer(self):
        batch = tip(self.alice, hours_ago=2, kind="batch", task_ids=("1", "2", "3"))
        feedback_record(user=self.alice, tip_id=batch.pk, action="accepted")
        self.complete(self.alice, "1")
        batch.refresh_from_db()
        self.assertEqual((batch.reward, batch.last_action, batch.is_final), (0.75, "accepted", False))

    def test_the_rebuild_reproduces_the_credited_rewards(self):
        for h in (3, 2):
            tip(self.alice, hours_ago=h, task_ids=("42",))
        tip(self.alice, hours_ago=2, kind="batch", task_ids=("1", "2", "3"))
        tip(self.bob, hours_ago=1, kind="plan", task_ids=("7", "8"))
        for user, task_id in ((self.alice, "42"), (self.alice, "1"), (self.alice, "2"), (self.bob, "8")):
            self.complete(user, task_id)
        rewards_finalize_expired(now=timezone.now() + timedelta(days=2))
        incremental = stats_snapshot()
        self.assertEqual(incremental[(None, "todoist:batch")], (1, 0.625))
        call_command("rebuild_arm_stats", stdout=StringIO())
        self.assertEqual(stats_snapshot(), incremental)

    def test_it_matches_numeric_task_ids_as_strings(self):
        named = tip(self.alice, hours_ago=1, task_ids=(42,))
        self.complete(self.alice, 42)
        named.refresh_from_db()
        self.assertEqual(named.last_action, "completed")
