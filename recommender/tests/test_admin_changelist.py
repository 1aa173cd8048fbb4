"""The tip_scores changelist fits: fewer columns, rounded numbers, spelled labels, the rest on the detail page."""

import re
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recommender.models import TipScore
from recommender.tests.test_admin import AdminTestCase, log_tips

CHANGELIST = reverse("admin:recommender_tipscore_changelist")


class ChangelistColumnsTests(AdminTestCase):
    def test_it_shows_eight_columns_with_spelled_labels(self):
        content = self.client.get(CHANGELIST).content.decode()
        headers = re.findall(r'<div class="text">(?:<a [^>]*>|<span>)(.*?)(?:</a>|</span>)</div>', content)
        self.assertEqual(
            headers, ["Served", "User", "Title", "Arm", "LLM model", "Prompt version", "Propensity", "Feedback"]
        )
        self.assertNotIn("Llm model", content)
        self.assertNotIn('id="nav-sidebar"', content)  # its width goes to the columns

    def test_it_rounds_propensities_and_reads_feedback_as_action_and_reward(self):
        TipScore.objects.filter(llm_model="ollama_chat/qwen2.5:7b").update(propensity=1 / 6)
        response = self.client.get(CHANGELIST)
        self.assertContains(response, '<td class="field-rounded_propensity">0.167</td>', html=True)
        self.assertNotContains(response, "0.1666")
        self.assertContains(response, "accepted · 0.75")
        self.assertContains(response, "(rule tip)")

    def test_a_long_title_is_cut_with_the_whole_title_as_its_tooltip(self):
        title = "Write the quarterly report's first section, then send it to Dana for a review"
        TipScore.objects.filter(tip_kind="plan").update(title=title)
        response = self.client.get(CHANGELIST)
        self.assertContains(response, f'<span title="{title.replace(chr(39), "&#x27;")}">')
        self.assertContains(response, "Write the quarterly report&#x27;s first section,…</span>")

    def test_the_detail_page_has_every_other_column_labelled(self):
        tip = TipScore.objects.get(tip_kind="plan")
        response = self.client.get(reverse("admin:recommender_tipscore_change", args=[tip.pk]))
        for label in ("LLM model", "Position", "Score", "Propensity", "Features", "Finalized at", "Why this tip"):
            self.assertContains(response, f"{label}:")
        self.assertNotContains(response, "Llm model")

    def test_a_long_page_costs_the_same_queries_as_a_short_one(self):
        self.client.get(CHANGELIST)  # warms the session and the cached filter choices
        with CaptureQueriesContext(connection) as short:
            self.client.get(CHANGELIST)
        log_tips(self.bob, [("plan", "llm", "ollama_chat/llama3:8b", "tips-v2", "accepted", 0.75)] * 60)
        with self.assertNumQueries(len(short)):
            response = self.client.get(CHANGELIST)
        self.assertEqual(len(response.context["cl"].result_list), 50)


class ChangelistPeriodTests(AdminTestCase):
    def test_it_lists_the_tips_of_a_period_and_offers_the_presets(self):
        today = timezone.localdate()
        response = self.client.get(CHANGELIST, {"since": (today - timedelta(days=6)).isoformat()})
        self.assertEqual({t.user_id for t in response.context["cl"].result_list}, {self.alice.pk})
        self.assertContains(response, "Last 30 days")
        self.assertContains(response, f"?since={(today - timedelta(days=29)).isoformat()}")
        old = self.client.get(CHANGELIST, {"until": (today - timedelta(days=30)).isoformat()})
        self.assertEqual([t.user_id for t in old.context["cl"].result_list], [self.bob.pk])
        self.assertContains(old, f"the first tip to {(today - timedelta(days=30)).isoformat()}")

    def test_a_backwards_period_is_refused_like_any_bad_filter(self):
        response = self.client.get(CHANGELIST, {"since": "2026-02-02", "until": "2026-02-01"})
        self.assertRedirects(response, f"{CHANGELIST}?e=1", fetch_redirect_response=False)
