"""The operators' admin over tip_scores: filters, search, read-only, estimated counts and the arm comparison."""

import json
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max, Min
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recommender.admin_tools import EstimatedCountPaginator, RangeDatesQuerySet, distinct_values, planner_estimate
from recommender.models import TipRequest, TipScore
from testsupport.cases import BaseTestCase

CHANGELIST = reverse("admin:recommender_tipscore_changelist")
SUMMARY = reverse("admin:recommender_arm_summary")


def log_tips(user, specs, *, served_at=None):
    """Log one request with a tip per spec: (kind, source, llm_model, prompt_version, last_action, reward)."""
    served_at = served_at or timezone.now()
    request = TipRequest.objects.create(user=user, policy="egreedy", created_at=served_at)
    rows = []
    for position, (kind, source, model, prompt, action, reward) in enumerate(specs):
        rows.append(
            TipScore(
                request=request,
                user=user,
                position=position,
                tip_kind=kind,
                source=source,
                title=f"{kind} tip from {model or 'rules'} #{position}",
                llm_model=model,
                prompt_version=prompt,
                score=0.5,
                propensity=0.5,
                served_at=served_at,
                last_action=action,
                feedback_at=served_at if action else None,
                reward=reward,
                finalized_at=served_at if reward is not None else None,
            )
        )
    return TipScore.objects.bulk_create(rows)


class AdminTestCase(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.operator = get_user_model().objects.create_superuser("operator", "op@example.org", "pw")
        self.client.force_login(self.operator)
        log_tips(
            self.alice,
            [
                ("do_now", "llm", "ollama_chat/qwen2.5:7b", "tips-v1", "accepted", 0.75),
                ("plan", "llm", "ollama_chat/llama3:8b", "tips-v2", "dismissed", 0.0),
                ("do_now", "todoist", None, "rules-v1", None, None),
            ],
        )
        log_tips(
            self.bob,
            [("batch", "todoist", None, "rules-v1", "completed", 1.0)],
            served_at=timezone.now() - timedelta(days=40),
        )

    def listed_titles(self, **params):
        response = self.client.get(CHANGELIST, params)
        self.assertEqual(response.status_code, 200)
        return sorted(obj.title for obj in response.context["cl"].result_list)


class TipScoreChangelistTests(AdminTestCase):
    def test_it_lists_every_served_tip_newest_first(self):
        response = self.client.get(CHANGELIST)
        self.assertEqual(response.status_code, 200)
        served = [obj.served_at for obj in response.context["cl"].result_list]
        self.assertEqual(len(served), 4)
        self.assertEqual(served, sorted(served, reverse=True))
        self.assertContains(response, "Compare arms")

    def test_it_filters_on_kind_source_model_prompt_and_action(self):
        self.assertEqual(len(self.listed_titles(tip_kind="do_now")), 2)
        self.assertEqual(len(self.listed_titles(source="todoist")), 2)
        self.assertEqual(
            self.listed_titles(llm_model="ollama_chat/llama3:8b"), ["plan tip from ollama_chat/llama3:8b #1"]
        )
        self.assertEqual(len(self.listed_titles(llm_model="__none__")), 2)  # rule tips
        self.assertEqual(len(self.listed_titles(prompt_version="rules-v1")), 2)
        self.assertEqual(len(self.listed_titles(last_action="__none__")), 1)
        self.assertEqual(len(self.listed_titles(last_action="completed", tip_kind="batch")), 1)

    def test_it_offers_each_filters_values_found_in_the_table(self):
        response = self.client.get(CHANGELIST)
        specs = {
            spec.title: [c["display"] for c in spec.choices(response.context["cl"])]
            for spec in response.context["cl"].filter_specs
        }
        self.assertEqual(specs["LLM model"], ["All", "ollama_chat/llama3:8b", "ollama_chat/qwen2.5:7b", "(rule tip)"])
        self.assertEqual(specs["prompt version"], ["All", "rules-v1", "tips-v1", "tips-v2"])
        self.assertEqual(specs["last action"], ["All", "accepted", "completed", "dismissed", "(no feedback)"])

    def test_it_drills_down_by_served_date_and_searches_titles(self):
        now = timezone.now()
        self.assertEqual(
            len(self.listed_titles(served_at__year=now.year, served_at__month=now.month, served_at__day=now.day)), 3
        )
        self.assertEqual(self.listed_titles(q="LLAMA3"), ["plan tip from ollama_chat/llama3:8b #1"])

    def test_it_is_read_only(self):
        tip = TipScore.objects.first()
        self.assertEqual(self.client.get(reverse("admin:recommender_tipscore_add")).status_code, 403)
        self.assertEqual(self.client.get(reverse("admin:recommender_tipscore_delete", args=[tip.pk])).status_code, 403)
        change = self.client.get(reverse("admin:recommender_tipscore_change", args=[tip.pk]))
        self.assertEqual(change.status_code, 200)
        self.assertNotContains(change, 'name="_save"')
        self.client.post(reverse("admin:recommender_tipscore_change", args=[tip.pk]), {"title": "edited"})
        tip.refresh_from_db()
        self.assertNotEqual(tip.title, "edited")

    def test_it_keeps_operators_only(self):
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get(CHANGELIST).status_code, 302)
        self.assertEqual(self.client.get(SUMMARY).status_code, 302)

    def test_it_costs_the_same_queries_for_a_long_page_as_for_a_short_one(self):
        self.client.get(CHANGELIST)  # warms the session and the cached filter choices
        counts = []
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                self.client.get(CHANGELIST)
            counts.append(len(queries))
            log_tips(self.bob, [("plan", "todoist", None, "rules-v1", None, None)] * 20)
        self.assertEqual(counts[0], counts[1])


class EstimatedCountTests(AdminTestCase):
    def test_it_counts_exactly_below_the_threshold(self):
        self.assertEqual(EstimatedCountPaginator(TipScore.objects.order_by("-id"), 2).count, 4)

    def test_it_uses_the_planner_estimate_above_the_threshold_on_postgresql(self):
        log_tips(self.alice, [("plan", "todoist", None, "rules-v1", None, None)] * 200)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tip_scores")
        estimate = planner_estimate(TipScore.objects.all())
        self.assertTrue(150 <= estimate <= 250, estimate)

        class AlwaysEstimate(EstimatedCountPaginator):
            exact_below = 0

        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(AlwaysEstimate(TipScore.objects.order_by("-id"), 50).count, estimate)
        self.assertTrue(all("COUNT(" not in q["sql"].upper() for q in queries.captured_queries))
        response = self.client.get(CHANGELIST)
        self.assertEqual(response.status_code, 200)

    def test_it_counts_a_small_result_with_a_capped_count(self):

        class BigCap(EstimatedCountPaginator):
            exact_below = 1_000_000  # any estimate is below it: the count is exact, but never reads past the cap

        with CaptureQueriesContext(connection) as queries:
            count = BigCap(TipScore.objects.order_by("-id"), 2).count
        self.assertEqual(count, 4)
        self.assertIn("LIMIT 1000000", queries[-1]["sql"].upper())

    def test_it_finds_distinct_values_without_nulls(self):
        self.assertEqual(distinct_values(TipScore, "llm_model"), ["ollama_chat/llama3:8b", "ollama_chat/qwen2.5:7b"])
        self.assertEqual(distinct_values(TipScore, "tip_kind"), ["batch", "do_now", "plan"])


class DateHierarchyTests(AdminTestCase):
    def test_it_lists_the_periods_between_the_first_and_last_tip_without_scanning(self):
        first = timezone.localtime(TipScore.objects.order_by("served_at").first().served_at)
        last = timezone.localtime(TipScore.objects.order_by("served_at").last().served_at)
        expected, (year, month) = [], (first.year, first.month)
        while (year, month) <= (last.year, last.month):
            expected.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        with CaptureQueriesContext(connection) as queries:
            months = RangeDatesQuerySet.of(TipScore.objects.all()).datetimes("served_at", "month")
        self.assertEqual([(m.year, m.month) for m in months], expected)
        self.assertEqual(len(queries), 1)
        self.assertNotIn("DISTINCT", queries[0]["sql"].upper())
        days = RangeDatesQuerySet.of(TipScore.objects.filter(user=self.alice)).datetimes("served_at", "day")
        self.assertEqual([d.date() for d in days], [last.date()])
        self.assertEqual(RangeDatesQuerySet.of(TipScore.objects.none()).datetimes("served_at", "year"), [])

    def test_it_takes_min_and_max_over_a_small_filtered_set_itself(self):
        filtered = TipScore.objects.filter(title__icontains="llama3")
        expected = filtered.aggregate(first=Min("served_at"), last=Max("served_at"))
        with CaptureQueriesContext(connection) as queries:
            bounds = RangeDatesQuerySet.of(filtered).aggregate(first=Min("served_at"), last=Max("served_at"))
        self.assertEqual(bounds, expected)
        self.assertIn("OFFSET 0", queries[-1]["sql"])  # the fenced plan: the filter's own index first

    def test_it_pages_a_retired_models_tips_without_stepping_over_the_newer_ones(self):
        start = timezone.now() - timedelta(days=30)
        retired = ("do_now", "llm", "ollama_chat/retired:1b", "tips-v0", None, None)
        current = ("do_now", "llm", "ollama_chat/current:8b", "tips-v9", None, None)
        for day, spec in ((0, retired), (10, current)):  # every retired row is older than every current one
            for hour in range(150):
                log_tips(self.bob, [spec] * 20, served_at=start + timedelta(days=day, minutes=hour))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tip_scores")
        both = {"llm_model": retired[2], "prompt_version": retired[3]}
        for params in ({"llm_model": retired[2]}, {"prompt_version": retired[3]}, both):
            with self.subTest(**params), CaptureQueriesContext(connection) as queries:
                response = self.client.get(CHANGELIST, params)
            self.assertEqual(response.context["cl"].result_count, 3000)
            self.assertEqual({t.llm_model for t in response.context["cl"].result_list}, {retired[2]})
            bounds = response.context["cl"].queryset.aggregate(first=Min("served_at"), last=Max("served_at"))
            self.assertEqual(bounds, {"first": start, "last": start + timedelta(minutes=149)})
            # The page and the date hierarchy's bounds (the capped count reads the 3000 matches by design).
            ordered = [q["sql"] for q in queries if "tip_scores" in q["sql"] and "ORDER BY" in q["sql"]]
            skipped = {sql[-200:]: self.rows_removed_by_filter(sql) for sql in ordered if "RECURSIVE" not in sql}
            self.assertLess(max(skipped.values()), 100, skipped)  # not the 3000 newer rows

    @staticmethod
    def rows_removed_by_filter(sql: str) -> int:
        """How many rows PostgreSQL read and discarded running `sql` (EXPLAIN ANALYZE, every plan node)."""
        if not sql.lstrip().upper().startswith("SELECT"):
            return 0
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str | bytes) else plan

        def removed(node: dict) -> int:
            own = node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
            return own + sum(removed(child) for child in node.get("Plans", []))

        return removed(plan[0]["Plan"])

    def test_it_links_each_listed_period_in_the_changelist(self):
        response = self.client.get(CHANGELIST)
        now = timezone.localtime()
        self.assertContains(response, f"served_at__year={now.year}")


class ArmSummaryTests(AdminTestCase):
    def test_it_compares_arms_for_the_default_period(self):
        response = self.client.get(SUMMARY)
        self.assertEqual(response.status_code, 200)
        rows = {tuple(r.group.values()): r for r in response.context["rows"]}
        # The last week only: bob's 40-day-old tip is outside; grouped by prompt_version, llm_model, tip_kind.
        self.assertEqual(
            set(rows),
            {
                ("tips-v1", "ollama_chat/qwen2.5:7b", "do_now"),
                ("tips-v2", "ollama_chat/llama3:8b", "plan"),
                ("rules-v1", None, "do_now"),
            },
        )
        accepted = rows[("tips-v1", "ollama_chat/qwen2.5:7b", "do_now")]
        self.assertEqual((accepted.served, accepted.feedback_rate, accepted.mean_reward), (1, 1.0, 0.75))
        silent = rows[("rules-v1", None, "do_now")]
        self.assertEqual((silent.served, silent.feedback_rate, silent.mean_reward), (1, 0.0, None))
        self.assertContains(response, "0.750")

    def test_it_groups_by_the_chosen_dimensions_over_the_chosen_period(self):
        today = timezone.localdate()
        params = {"since": (today - timedelta(days=60)).isoformat(), "until": today.isoformat(), "group_by": ["source"]}
        rows = {r.group["source"]: r for r in self.client.get(SUMMARY, params).context["rows"]}
        self.assertEqual((rows["todoist"].served, rows["todoist"].rewarded, rows["todoist"].mean_reward), (2, 1, 1.0))
        self.assertEqual((rows["llm"].served, rows["llm"].with_feedback, rows["llm"].mean_reward), (2, 2, 0.375))

    def test_it_explains_a_bad_period_instead_of_failing(self):
        today = timezone.localdate()
        response = self.client.get(
            SUMMARY, {"since": today.isoformat(), "until": (today - timedelta(days=3)).isoformat()}
        )
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "The period must start before it ends.")
        self.assertEqual(response.context["rows"], [])
        response = self.client.get(SUMMARY, {"since": "yesterday", "group_by": ["nonsense"]})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.context["rows"], [])
