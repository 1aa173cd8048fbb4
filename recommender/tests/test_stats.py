"""Arm statistics: incremented exactly once per final reward, equal to a rebuild, also under concurrency."""

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

from django.core.cache import cache
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import TransactionTestCase
from django.utils import timezone

from recommender.models import ArmStat, FeedbackEvent, TipScore
from recommender.selectors.serving import arm_estimates
from recommender.services.feedback import feedback_record
from recommender.services.rewards import rewards_finalize_expired, tips_credit_completion
from recommender.services.stats import arm_stats_rebuild
from recommender.tests.feedback_support import candidate, serve, stats_snapshot, tip
from testsupport.cases import ActorsMixin, BaseTestCase
from tipengine.domain_errors import Conflict
from tipengine.errors import api_error


class IncrementalStatsTests(BaseTestCase):
    def make_history(self):
        """Every way a reward becomes final, over two users, several arms and a legacy row."""
        a = serve(
            self.alice,
            candidate("do_now", task_ids=("1",)),
            candidate("plan", source="llm", task_ids=()),
            candidate("batch", task_ids=("2", "3")),
            served_at=timezone.now() - timedelta(hours=2),
        )
        feedback_record(user=self.alice, tip_id=a[0].pk, action="accepted")
        feedback_record(user=self.alice, tip_id=a[0].pk, action="completed")
        feedback_record(user=self.alice, tip_id=a[1].pk, action="snoozed")
        feedback_record(user=self.alice, tip_id=a[2].pk, action="not_relevant")
        b = tip(self.bob, hours_ago=1, kind="do_now", task_ids=("7",))
        tips_credit_completion(user_id=self.bob.pk, task_id="7", completed_at=timezone.now())
        legacy = tip(self.bob, hours_ago=30)
        TipScore.objects.filter(pk=legacy.pk).update(tip_kind=None)
        feedback_record(user=self.bob, tip_id=tip(self.bob, hours_ago=2, kind="wellbeing").pk, action="viewed")
        rewards_finalize_expired(now=timezone.now() + timedelta(days=1))
        return a, b

    def test_it_moves_the_statistics_by_exactly_each_final_reward(self):
        self.make_history()
        self.assertEqual(
            stats_snapshot(),
            {
                (None, "todoist:do_now"): (2, 2.0),
                (None, "llm:plan"): (1, 0.25),
                (None, "todoist:batch"): (1, 0.0),
                (None, "todoist:legacy"): (1, 0.0),
                (None, "todoist:wellbeing"): (1, 0.125),
                (self.alice.pk, "todoist:do_now"): (1, 1.0),
                (self.alice.pk, "llm:plan"): (1, 0.25),
                (self.alice.pk, "todoist:batch"): (1, 0.0),
                (self.bob.pk, "todoist:do_now"): (1, 1.0),
                (self.bob.pk, "todoist:legacy"): (1, 0.0),
                (self.bob.pk, "todoist:wellbeing"): (1, 0.125),
            },
        )

    def test_it_rebuilds_exactly_the_incremental_numbers(self):
        self.make_history()
        incremental = stats_snapshot()
        arm_stats_rebuild()
        self.assertEqual(stats_snapshot(), incremental)

    def test_it_repairs_drifted_statistics_from_the_command(self):
        self.make_history()
        expected = stats_snapshot()
        ArmStat.objects.filter(user=None).update(count=999, reward_sum=-1.0)
        ArmStat.objects.create(user=self.charlie, arm="llm:ghost", count=3, reward_sum=3.0)
        out = StringIO()
        call_command("rebuild_arm_stats", stdout=out)
        self.assertIn(f"{len(expected)} rows written", out.getvalue())
        self.assertEqual(stats_snapshot(), expected)

    def test_the_next_serve_reads_the_repaired_statistics_not_a_cached_copy(self):
        self.make_history()
        expected = arm_estimates(user=self.alice)
        ArmStat.objects.update(count=999, reward_sum=-1.0)  # drift, written behind the ORM's back
        cache.clear()
        self.assertNotEqual(arm_estimates(user=self.alice), expected)  # and now cached, as by a serve
        arm_stats_rebuild()
        self.assertEqual(arm_estimates(user=self.alice), expected)

    def test_it_ignores_open_tips_when_rebuilding(self):
        open_tip = tip(self.alice, hours_ago=1)
        feedback_record(user=self.alice, tip_id=open_tip.pk, action="accepted")
        arm_stats_rebuild()
        self.assertEqual(stats_snapshot(), {})


class ConcurrentFeedbackTests(ActorsMixin, TransactionTestCase):
    """Real concurrent transactions on PostgreSQL: threads, each with its own connection, released together."""

    def setUp(self):
        super().setUp()

    def run_together(self, calls: list[Callable[[], Any]]) -> list[Any]:
        barrier = threading.Barrier(len(calls))
        results: list[Any] = [None] * len(calls)

        def worker(i: int) -> None:
            try:
                barrier.wait()
                results[i] = calls[i]()
            except Exception as exc:  # reported by the assertion below, with the thread's error
                results[i] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def post(self, user, tip_id: int, action: str, key: str | None = None) -> Callable[[], Any]:
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        url = f"/api/v1/tips/{tip_id}/feedback/"
        return lambda: self.api(user).post(url, {"action": action}, format="json", **headers)

    def test_it_lands_every_concurrent_feedback_on_distinct_tips(self):
        n = 12
        users = [self.alice, self.bob]
        actions = ["completed", "dismissed", "not_relevant"]
        tips = [tip(users[i % 2], hours_ago=1, kind="do_now") for i in range(n)]
        calls = [self.post(users[i % 2], t.pk, actions[i % 3]) for i, t in enumerate(tips)]
        responses = self.run_together(calls)
        self.assertEqual([getattr(r, "status_code", r) for r in responses], [201] * n)
        self.assertEqual(FeedbackEvent.objects.count(), n)
        expected_sum = sum(1.0 for i in range(n) if actions[i % 3] == "completed")
        incremental = stats_snapshot()
        self.assertEqual(incremental[(None, "todoist:do_now")], (n, expected_sum))
        self.assertEqual(incremental[(self.alice.pk, "todoist:do_now")][0], n // 2)
        arm_stats_rebuild()
        self.assertEqual(stats_snapshot(), incremental)

    def test_it_finalizes_a_tip_once_when_terminal_actions_race(self):
        target = tip(self.alice, hours_ago=1, kind="plan")
        responses = self.run_together([self.post(self.alice, target.pk, "completed") for _ in range(6)])
        self.assertEqual(sorted(r.status_code for r in responses), [201] + [409] * 5)
        self.assertEqual(FeedbackEvent.objects.count(), 1)
        self.assertEqual(stats_snapshot()[(None, "todoist:plan")], (1, 1.0))

    def test_it_records_one_event_for_a_key_sent_concurrently(self):
        target = tip(self.alice, hours_ago=1)
        responses = self.run_together([self.post(self.alice, target.pk, "accepted", key="same") for _ in range(6)])
        self.assertEqual([r.status_code for r in responses], [201] * 6)
        self.assertEqual(len({r.content for r in responses}), 1)
        self.assertEqual(FeedbackEvent.objects.count(), 1)

    def in_thread(self, call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
        """Start `call` on its own thread (and database connection); its result or error lands in the list."""
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append(call())
            except Exception as exc:  # reported by the caller's assertions
                outcome.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread, outcome

    def wait_until_blocked_by_me(self) -> None:
        """Return once another session waits for a lock this one holds (polled: the server cannot signal it)."""
        deadline = time.monotonic() + 30
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
                )
                if cursor.fetchone()[0]:
                    return
                time.sleep(0.005)
        self.fail("the other session never waited for this one")

    def feedback_while_held(self, target: TipScore, action: str, **changes: Any) -> Any:
        """Send `action` while another transaction holds the tip with `changes` made but not yet committed.

        The call reads the tip as it was, and its write waits for the row until the holder commits.
        """
        with transaction.atomic():
            TipScore.objects.filter(pk=target.pk).update(**changes)
            thread, outcome = self.in_thread(lambda: feedback_record(user=self.alice, tip_id=target.pk, action=action))
            self.wait_until_blocked_by_me()
        thread.join()
        return outcome[0]

    def test_it_locks_the_global_statistic_before_the_users_like_the_window_closer(self):
        # The other order could deadlock with rewards_finalize_expired, which locks global rows first.
        feedback_record(user=self.alice, tip_id=tip(self.alice, hours_ago=1, kind="plan").pk, action="completed")
        target = tip(self.alice, hours_ago=1, kind="plan")

        def users_row_is_free() -> bool:
            try:
                with transaction.atomic():
                    ArmStat.objects.select_for_update(nowait=True).get(user=self.alice, arm="todoist:plan")
                return True
            except DatabaseError:
                return False

        with transaction.atomic():
            ArmStat.objects.select_for_update().get(user=None, arm="todoist:plan")
            feedback, outcome = self.in_thread(
                lambda: feedback_record(user=self.alice, tip_id=target.pk, action="completed")
            )
            self.wait_until_blocked_by_me()
            probe, free = self.in_thread(users_row_is_free)
            probe.join()
        feedback.join()
        self.assertEqual(free, [True])  # the call waits for the global row without holding the user's
        self.assertFalse(outcome[0].replayed)
        self.assertEqual(stats_snapshot()[(self.alice.pk, "todoist:plan")], (2, 2.0))

    def test_it_decides_again_when_the_tip_changed_between_its_read_and_its_write(self):
        target = tip(self.alice, hours_ago=1)
        outcome = self.feedback_while_held(target, "viewed", last_action="accepted", reward=0.75)
        # Not a lost update: `viewed` applied to the accepted tip keeps the answer and its reward.
        self.assertEqual(outcome.body["reward"], 0.75)
        target.refresh_from_db()
        self.assertEqual((target.last_action, target.reward), ("accepted", 0.75))
        self.assertEqual(list(FeedbackEvent.objects.values_list("action", "reward")), [("viewed", 0.75)])

    def test_it_answers_409_when_the_tip_was_finalized_between_its_read_and_its_write(self):
        target = tip(self.alice, hours_ago=1, kind="plan")
        now = timezone.now()
        outcome = self.feedback_while_held(target, "completed", last_action="dismissed", reward=0.0, finalized_at=now)
        self.assertIsInstance(outcome, Conflict)
        self.assertEqual((api_error(outcome).status_code, outcome.code), (409, "already_final"))
        self.assertFalse(FeedbackEvent.objects.exists())
        self.assertFalse(ArmStat.objects.exists())  # the holder wrote no statistics, and the call none either

    def test_it_counts_each_expired_tip_once_when_window_closers_and_feedback_race(self):
        expired = [tip(self.alice, hours_ago=30, kind="batch") for _ in range(20)]
        live = [tip(self.bob, hours_ago=1, kind="batch") for _ in range(4)]
        calls = [lambda: rewards_finalize_expired(batch_size=3) for _ in range(3)]
        calls += [self.post(self.bob, t.pk, "completed") for t in live]
        results = self.run_together(calls)
        self.assertEqual(sum(results[:3]), len(expired))
        self.assertEqual([r.status_code for r in results[3:]], [201] * len(live))
        incremental = stats_snapshot()
        self.assertEqual(incremental[(None, "todoist:batch")], (24, 4.0))
        arm_stats_rebuild()
        self.assertEqual(stats_snapshot(), incremental)
