"""GET /api/v1/tips/history/ and the recent-feedback selector the prompt context reads."""

from datetime import timedelta

from django.utils import timezone

from recommender.models import FeedbackEvent
from recommender.selectors import recent_feedback_by_kind
from recommender.services.feedback import feedback_record
from recommender.tests.feedback_support import tip
from testsupport.cases import BaseTestCase

URL = "/api/v1/tips/history/"


class HistoryTests(BaseTestCase):
    def test_it_lists_the_users_tips_newest_first_with_feedback_and_rewards(self):
        older = tip(self.alice, hours_ago=30, kind="plan")
        newer = tip(self.alice, hours_ago=1, kind="do_now", source="llm", task_ids=("9",))
        tip(self.bob, hours_ago=1)
        feedback_record(user=self.alice, tip_id=newer.pk, action="viewed")
        feedback_record(user=self.alice, tip_id=newer.pk, action="completed")
        response = self.api(self.alice).get(URL)
        self.assertEqual(response.status_code, 200)
        results = response.json()["results"]
        self.assertEqual([r["id"] for r in results], [newer.pk, older.pk])
        first = results[0]
        self.assertEqual((first["kind"], first["source"], first["task_ids"]), ("do_now", "llm", ["9"]))
        self.assertEqual((first["last_action"], first["reward"], first["final"]), ("completed", 1.0, True))
        self.assertEqual(first["llm_model"], "ollama_chat/qwen2.5:7b")
        self.assertEqual([e["action"] for e in first["events"]], ["viewed", "completed"])
        self.assertEqual([e["reward"] for e in first["events"]], [0.125, 1.0])
        self.assertEqual((results[1]["reward"], results[1]["final"], results[1]["events"]), (None, False, []))

    def test_it_pages_with_a_cursor(self):
        tips = [tip(self.alice, hours_ago=1) for _ in range(5)]
        client = self.api(self.alice)
        seen, url = [], f"{URL}?page_size=2"
        while url:
            page = client.get(url).json()
            seen += [r["id"] for r in page["results"]]
            url = page["next"]
        self.assertEqual(seen, [t.pk for t in reversed(tips)])

    def test_it_costs_a_fixed_number_of_queries_whatever_the_events(self):
        for _ in range(6):
            t = tip(self.alice, hours_ago=1)
            for action in ("viewed", "accepted", "completed"):
                feedback_record(user=self.alice, tip_id=t.pk, action=action)
        client = self.api(self.alice)
        # token auth, the page of tips, their events
        with self.assertNumQueries(3):
            response = client.get(URL)
        self.assertEqual(len(response.json()["results"]), 6)

    def test_it_shows_nothing_of_other_users(self):
        tip(self.bob, hours_ago=1)
        self.assertEqual(self.api(self.alice).get(URL).json()["results"], [])

    def test_it_requires_authentication(self):
        self.assertEqual(self.api(None).get(URL).status_code, 401)

    def test_it_rejects_a_forged_cursor(self):
        response = self.api(self.alice).get(f"{URL}?cursor=not-a-cursor")
        self.assertEqual(response.status_code, 404)
        self.assertIn("error", response.json())


class RecentFeedbackTests(BaseTestCase):
    def test_it_counts_recent_actions_per_kind_for_one_user(self):
        plan = tip(self.alice, hours_ago=1, kind="plan")
        do_now = tip(self.alice, hours_ago=1, kind="do_now")
        feedback_record(user=self.alice, tip_id=plan.pk, action="viewed")
        feedback_record(user=self.alice, tip_id=plan.pk, action="accepted")
        feedback_record(user=self.alice, tip_id=do_now.pk, action="dismissed")
        bobs = tip(self.bob, hours_ago=1, kind="plan")
        feedback_record(user=self.bob, tip_id=bobs.pk, action="dismissed")
        self.assertEqual(
            recent_feedback_by_kind(user=self.alice),
            {"plan": {"viewed": 1, "accepted": 1}, "do_now": {"dismissed": 1}},
        )

    def test_it_forgets_feedback_older_than_the_period(self):
        old = tip(self.alice, hours_ago=1, kind="batch")
        feedback_record(user=self.alice, tip_id=old.pk, action="accepted")
        FeedbackEvent.objects.update(created_at=timezone.now() - timedelta(days=15))
        self.assertEqual(recent_feedback_by_kind(user=self.alice), {})
        self.assertEqual(recent_feedback_by_kind(user=self.alice, days=30), {"batch": {"accepted": 1}})

    def test_it_counts_tips_without_a_kind_as_legacy(self):
        old = tip(self.alice, hours_ago=1)
        old.tip_kind = None
        old.save(update_fields=["tip_kind"])
        feedback_record(user=self.alice, tip_id=old.pk, action="viewed")
        self.assertEqual(recent_feedback_by_kind(user=self.alice), {"legacy": {"viewed": 1}})
