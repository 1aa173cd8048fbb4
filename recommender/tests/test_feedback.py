"""POST /api/v1/tips/<id>/feedback/: rewards, finality, idempotency and bad input."""

from datetime import timedelta

from django.test import TransactionTestCase, override_settings
from django.utils import timezone

from recommender.models import ArmStat, FeedbackEvent
from recommender.reward_table import Action
from recommender.tests.feedback_support import stats_snapshot, tip
from testsupport.cases import ActorsMixin, BaseTestCase


class FeedbackApiTestCase(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.tip = tip(self.alice, hours_ago=1, kind="do_now", task_ids=("42",), features={"due_age_days": 3})

    def post(self, body, *, user=None, tip_id=None, key=None):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
        url = f"/api/v1/tips/{tip_id or self.tip.pk}/feedback/"
        return self.api(user or self.alice).post(url, body, format="json", **headers)


class FeedbackTests(FeedbackApiTestCase):
    def test_it_records_an_action_and_answers_with_the_reward(self):
        response = self.post({"action": "accepted"})
        self.assertEqual(response.status_code, 201, response.content)
        body = response.json()
        self.assertEqual(body["tip_id"], self.tip.pk)
        self.assertEqual((body["action"], body["reward"], body["final"]), ("accepted", 0.75, False))
        self.assertEqual(body["due_age_days"], 3)
        self.tip.refresh_from_db()
        self.assertEqual((self.tip.last_action, self.tip.reward, self.tip.is_final), ("accepted", 0.75, False))
        self.assertFalse(ArmStat.objects.exists())  # provisional rewards do not move the statistics

    def test_it_gives_the_documented_final_reward_once_for_accept_then_complete(self):
        self.assertEqual(self.post({"action": "accepted"}).status_code, 201)
        completed = self.post({"action": "completed"})
        self.assertEqual(completed.status_code, 201)
        self.assertEqual((completed.json()["reward"], completed.json()["final"]), (1.0, True))
        self.assertEqual(
            stats_snapshot(), {(None, "todoist:do_now"): (1, 1.0), (self.alice.pk, "todoist:do_now"): (1, 1.0)}
        )

    def test_it_costs_a_fixed_number_of_queries(self):
        # The token on its first use (then it is cached). The tip, then one statement for tip, event and
        # statistics (in a savepoint only because the test holds a transaction; see the autocommit test below).
        # The key is looked up only when the event's unique constraint or a closed tip says it may have been used.
        with self.assertNumQueries(1 + 4):
            self.assertEqual(self.post({"action": "completed"}, key="q-1").status_code, 201)
        # a cached token, no key and no finality: no token, key or statistics queries
        other = tip(self.alice, hours_ago=1)
        with self.assertNumQueries(4):
            self.assertEqual(self.post({"action": "accepted"}, tip_id=other.pk).status_code, 201)

    def test_it_keeps_every_event_not_only_the_last(self):
        for action in ("viewed", "snoozed", "viewed", "accepted"):
            self.assertEqual(self.post({"action": action}).status_code, 201)
        events = list(FeedbackEvent.objects.filter(tip=self.tip).order_by("id").values_list("action", "reward"))
        self.assertEqual(events, [("viewed", 0.125), ("snoozed", 0.25), ("viewed", 0.25), ("accepted", 0.75)])

    def test_it_stores_a_snooze_until(self):
        until = timezone.now() + timedelta(hours=3)
        response = self.post({"action": "snoozed", "until": until.isoformat()})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(FeedbackEvent.objects.get().until, until)
        self.assertEqual(response.json()["reward"], 0.25)

    def test_it_answers_409_after_a_terminal_action_and_changes_nothing(self):
        self.assertEqual(self.post({"action": "dismissed"}).status_code, 201)
        before = stats_snapshot()
        response = self.post({"action": "completed"})
        self.assertEqual(response.status_code, 409)
        error = response.json()["error"]
        self.assertEqual(error["code"], "already_final")
        self.assertIn("final", error["message"])
        self.assertEqual(error["details"]["last_action"], "dismissed")
        self.assertEqual(stats_snapshot(), before)
        self.assertEqual(FeedbackEvent.objects.count(), 1)

    def test_it_answers_409_when_the_window_has_closed(self):
        old = tip(self.alice, hours_ago=25)
        response = self.post({"action": "accepted"}, tip_id=old.pk)
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"]["code"], "window_closed")
        self.assertFalse(FeedbackEvent.objects.exists())


class FeedbackAccessTests(FeedbackApiTestCase):
    def test_it_answers_the_same_404_for_someone_elses_tip_and_a_missing_one(self):
        bobs = tip(self.bob, hours_ago=1)
        other = self.post({"action": "accepted"}, tip_id=bobs.pk)
        missing = self.post({"action": "accepted"}, tip_id=bobs.pk + 1000)
        self.assertEqual((other.status_code, missing.status_code), (404, 404))
        self.assertEqual(other.json()["error"]["code"], "not_found")
        self.assertEqual(set(other.json()["error"]), set(missing.json()["error"]))
        self.assertEqual(other.json()["error"]["message"].replace(str(bobs.pk), "ID"), "Tip ID was not found.")
        bobs.refresh_from_db()
        self.assertIsNone(bobs.last_action)
        self.assertFalse(FeedbackEvent.objects.exists())

    def test_it_answers_404_for_an_id_beyond_the_database_range(self):
        response = self.post({"action": "accepted"}, tip_id=10**30)
        self.assertEqual(response.status_code, 404)

    def test_it_requires_authentication(self):
        response = self.api(None).post(f"/api/v1/tips/{self.tip.pk}/feedback/", {"action": "accepted"}, format="json")
        self.assertEqual(response.status_code, 401)
        self.assertIn("error", response.json())


class FeedbackBadInputTests(FeedbackApiTestCase):
    def assert_invalid(self, body, field, **kw):
        response = self.post(body, **kw)
        self.assertEqual(response.status_code, 400, response.content)
        error = response.json()["error"]
        self.assertEqual(error["code"], "invalid")
        self.assertIn(field, error["details"]["fields"])
        self.assertFalse(FeedbackEvent.objects.exists())
        self.assertFalse(ArmStat.objects.exists())
        return error

    def test_it_rejects_an_unknown_action_naming_the_valid_ones(self):
        error = self.assert_invalid({"action": "love"}, "action")
        [message] = error["details"]["fields"]["action"]
        self.assertEqual(message, f'"love" is not a valid action; use one of: {", ".join(Action.values)}.')

    def test_it_rejects_a_missing_or_mistyped_action(self):
        self.assert_invalid({}, "action")
        self.assert_invalid({"action": ["completed"]}, "action")
        self.assert_invalid({"action": None}, "action")

    def test_it_rejects_a_snooze_until_in_the_past(self):
        self.assert_invalid(
            {"action": "snoozed", "until": (timezone.now() - timedelta(minutes=1)).isoformat()}, "until"
        )

    @override_settings(TIPS_SNOOZE_MAX_H=24.0)
    def test_it_rejects_a_snooze_beyond_what_serving_honours(self):
        self.assert_invalid({"action": "snoozed", "until": (timezone.now() + timedelta(hours=25)).isoformat()}, "until")

    def test_it_rejects_a_malformed_until(self):
        self.assert_invalid({"action": "snoozed", "until": "tomorrow"}, "until")

    def test_it_rejects_until_on_other_actions(self):
        self.assert_invalid({"action": "accepted", "until": (timezone.now() + timedelta(hours=1)).isoformat()}, "until")

    def test_it_rejects_an_oversized_idempotency_key(self):
        self.assert_invalid({"action": "accepted"}, "Idempotency-Key", key="k" * 256)

    def test_it_rejects_a_body_that_is_not_json(self):
        response = self.api(self.alice).post(
            f"/api/v1/tips/{self.tip.pk}/feedback/", "action=accepted", content_type="text/plain"
        )
        self.assertEqual(response.status_code, 415)
        self.assertIn("error", response.json())


class IdempotencyTests(FeedbackApiTestCase):
    def test_it_replays_the_first_answer_for_the_same_key_and_body(self):
        first = self.post({"action": "accepted"}, key="k-1")
        second = self.post({"action": "accepted"}, key="k-1")
        self.assertEqual((first.status_code, second.status_code), (201, 201))
        self.assertEqual(second.content, first.content)
        self.assertEqual(second["Idempotent-Replayed"], "true")
        self.assertFalse(first.has_header("Idempotent-Replayed"))
        self.assertEqual(FeedbackEvent.objects.count(), 1)

    def test_it_replays_a_terminal_answer_instead_of_409(self):
        first = self.post({"action": "completed"}, key="k-2")
        again = self.post({"action": "completed"}, key="k-2")
        self.assertEqual(again.status_code, 201)
        self.assertEqual(again.json(), first.json())
        self.assertEqual(stats_snapshot()[(self.alice.pk, "todoist:do_now")], (1, 1.0))

    def test_it_answers_422_for_the_same_key_with_a_different_body(self):
        self.post({"action": "accepted"}, key="k-3")
        response = self.post({"action": "dismissed"}, key="k-3")
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["error"]["code"], "idempotency_key_reused")
        other_tip = tip(self.alice, hours_ago=1)
        self.assertEqual(self.post({"action": "accepted"}, key="k-3", tip_id=other_tip.pk).status_code, 422)
        self.assertEqual(FeedbackEvent.objects.count(), 1)
        self.tip.refresh_from_db()
        self.assertEqual(self.tip.last_action, "accepted")

    def test_it_treats_the_same_instant_in_another_offset_as_the_same_request(self):
        until = timezone.now() + timedelta(hours=2)
        first = self.post({"action": "snoozed", "until": until.isoformat()}, key="k-4")
        shifted = until.astimezone(timezone.get_fixed_timezone(120)).isoformat()
        again = self.post({"action": "snoozed", "until": shifted}, key="k-4")
        self.assertEqual((first.status_code, again.status_code), (201, 201))
        self.assertEqual(again["Idempotent-Replayed"], "true")

    def test_it_scopes_keys_to_the_user(self):
        bobs = tip(self.bob, hours_ago=1)
        self.assertEqual(self.post({"action": "accepted"}, key="shared").status_code, 201)
        self.assertEqual(
            self.post({"action": "accepted"}, key="shared", user=self.bob, tip_id=bobs.pk).status_code, 201
        )
        self.assertEqual(FeedbackEvent.objects.count(), 2)


class FeedbackAutocommitTests(ActorsMixin, TransactionTestCase):
    """No test transaction around the call: the queries a request really costs under gunicorn."""

    def test_it_costs_two_queries_on_postgresql(self):
        final, provisional = tip(self.alice, hours_ago=1), tip(self.alice, hours_ago=1)
        client = self.api(self.alice)
        client.post(f"/api/v1/tips/{provisional.pk}/feedback/", {"action": "viewed"}, format="json")  # token cached
        # The tip, then one statement (tip, event and, when final, both statistics) that is its own
        # transaction, and nothing else (no middleware, authentication or DRF query once the token is cached).
        for target, action in ((final, "completed"), (provisional, "accepted")):
            with self.assertNumQueries(2):
                response = client.post(f"/api/v1/tips/{target.pk}/feedback/", {"action": action}, format="json")
                self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(stats_snapshot()[(self.alice.pk, "todoist:do_now")], (1, 1.0))
        self.assertEqual(FeedbackEvent.objects.filter(tip=provisional).count(), 2)
