"""The admin's daily rollup (docs/adr/0099): the pages show the same figures with it as from tip_scores alone."""

from datetime import timedelta
from io import StringIO

from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from recommender.models import PolicyModel, TipRequest, TipScore, TipScoreDay, TipScoreDaysCovered
from recommender.services.feedback import feedback_record
from recommender.services.rewards import rewards_finalize_expired
from recommender.services.rollup import tip_score_days_refresh
from recommender.tasks import refresh_tip_score_days
from recommender.tests.test_admin import AdminTestCase, log_tips

SUMMARY = reverse("admin:recommender_arm_summary")
MODELS = reverse("admin:recommender_policymodel_changelist")
ALL_GROUPS = ["prompt_version", "llm_model", "tip_kind", "source", "policy", "model_version"]
SPECS = [
    ("do_now", "llm", "ollama_chat/qwen2.5:7b", "tips-v1", "accepted", 0.75),
    ("do_now", "llm", "ollama_chat/qwen2.5:7b", "tips-v1", "dismissed", 0.0),
    ("plan", "llm", "ollama_chat/llama3:8b", "tips-v2", "viewed", 0.125),
    ("plan", "llm", "ollama_chat/llama3:8b", "tips-v2", "completed", 1.0),
    ("do_now", "todoist", None, "rules-v1", None, 0.0),
    ("break_down", "todoist", None, "rules-v1", "snoozed", 0.25),
    (None, "todoist", None, None, None, None),  # a legacy row, never final
]


def figures(client) -> list:
    """What the chart pages show, computed now: every table row (its exact numbers) and every chart."""
    cache.clear()
    shown = []
    for url, query in (
        (SUMMARY, {"period": "all"}),
        (SUMMARY, {"period": "all", "group_by": ALL_GROUPS}),
        (SUMMARY, {"period": "7d", "group_by": ["source", "policy"]}),
        (SUMMARY, {"since": (timezone.localdate() - timedelta(days=5)).isoformat(), "group_by": ["tip_kind"]}),
        (MODELS, {"period": "all"}),
        (MODELS, {}),
    ):
        context = client.get(url, query).context
        shown.append((url, query, context["rows"], str(context["chart"])))
    return shown


def live_figures(client) -> list:
    """`figures` from tip_scores alone: as if nothing were rolled up (in a savepoint rolled back after)."""
    with transaction.atomic():
        TipScoreDaysCovered.objects.all().delete()
        shown = figures(client)
        transaction.set_rollback(True)
    return shown


@override_settings(TIPS_POLICY="contextual")
class RollupTests(AdminTestCase):
    def setUp(self):
        super().setUp()
        version = PolicyModel.objects.create(rows=10, weights=b"")
        self.newer = newer = PolicyModel.objects.create(parent=version, rows=10, weights=b"")
        now = timezone.now()
        for days_ago in range(1, 12):
            for user, specs in ((self.alice, SPECS[: 3 + days_ago % 5]), (self.bob, SPECS[days_ago % 3 :])):
                tips = log_tips(user, specs, served_at=now - timedelta(days=days_ago, hours=days_ago))
                if days_ago % 2:  # scored by the version, and by the next one in shadow (agreeing on some days)
                    shadow = {"shadow": {"model_version": newer.pk, "probability": 0.3, "agrees": days_ago % 3 == 0}}
                    TipRequest.objects.filter(pk=tips[0].request_id).update(
                        policy="contextual", model_version=version.pk, policy_params=shadow
                    )
        # The legacy rows stay open: finalize them as the window closer would have, but for one old day's tip.
        six_days_ago = (now - timedelta(days=7), now - timedelta(days=5))
        self.late = TipScore.objects.filter(tip_kind__isnull=True, served_at__range=six_days_ago).first()
        TipScore.objects.filter(tip_kind__isnull=True).exclude(pk=self.late.pk).update(reward=0.0, finalized_at=now)

    def test_the_pages_show_the_same_figures_with_the_rollup_as_without(self):
        refreshed = tip_score_days_refresh()
        self.assertEqual(refreshed.covered_before, timezone.localdate(self.late.served_at))  # its open tip's day
        self.assertTrue(TipScoreDay.objects.filter(day=timezone.localdate() - timedelta(days=8)).exists())
        self.assertLess(TipScoreDay.objects.order_by("day").last().day, refreshed.covered_before)
        self.assertEqual(figures(self.client), live_figures(self.client))
        rows = self.client.get(MODELS, {"period": "all"}).context["rows"]
        self.assertEqual({row["version"]: row["shadowed"] for row in rows}[self.newer.pk], 2 * 6)  # 2 users, 6 days
        rewards_finalize_expired()  # every day final now but today's: the late day changed
        self.assertEqual(figures(self.client), live_figures(self.client))  # read live until a refresh sums it
        tip_score_days_refresh()
        self.assertEqual(TipScoreDaysCovered.objects.get().before, timezone.localdate())
        self.assertEqual(figures(self.client), live_figures(self.client))

    @override_settings(TIPS_REWARD_WINDOW_H=24 * 30)  # an old day's tip can still get feedback
    def test_late_feedback_on_an_old_day_shows_at_once_and_after_the_refresh(self):
        tip_score_days_refresh()
        before = {row.group["tip_kind"]: row for row in figures(self.client)[0][2]}[None]
        feedback_record(user=self.late.user, tip_id=self.late.pk, action="completed")
        after_feedback = figures(self.client)
        legacy = {row.group["tip_kind"]: row for row in after_feedback[0][2]}[None]
        self.assertEqual((legacy.rewarded, legacy.with_feedback), (before.rewarded + 1, before.with_feedback + 1))
        tip_score_days_refresh()
        self.assertGreater(TipScoreDaysCovered.objects.get().before, timezone.localdate(self.late.served_at))
        self.assertEqual(figures(self.client), after_feedback)
        self.assertEqual(live_figures(self.client), after_feedback)

    def test_the_refresh_is_idempotent_and_the_rebuild_gives_the_same_rows(self):
        rewards_finalize_expired()
        self.assertGreater(refresh_tip_score_days(), 0)
        rows = sorted(TipScoreDay.objects.values_list(*ALL_GROUPS, "day", "served", "reward_sum"), key=str)
        self.assertEqual(refresh_tip_score_days(), 0)  # nothing became final since
        call_command("rebuild_tip_score_days", stdout=StringIO())
        self.assertEqual(
            sorted(TipScoreDay.objects.values_list(*ALL_GROUPS, "day", "served", "reward_sum"), key=str), rows
        )
        first = timezone.localdate() - timedelta(days=6)
        TipScore.objects.filter(served_at__date=first).delete()  # as deleting users would, behind its back
        call_command(
            "rebuild_tip_score_days", "--since", first.isoformat(), "--until", first.isoformat(), stdout=StringIO()
        )
        self.assertFalse(TipScoreDay.objects.filter(day=first).exists())

    def test_its_queries_do_not_grow_with_days_or_groups(self):
        rewards_finalize_expired()
        tip_score_days_refresh()
        query = {"period": "all", "group_by": ALL_GROUPS}
        self.client.get(SUMMARY, query)
        cache.clear()
        with self.assertNumQueries(5):  # session, user, the rollup's bound, its days, the live days
            self.client.get(SUMMARY, query)
        log_tips(self.bob, SPECS, served_at=timezone.now() - timedelta(days=40))
        call_command("rebuild_tip_score_days", stdout=StringIO())
        cache.clear()
        with self.assertNumQueries(5):
            self.client.get(SUMMARY, query)
