"""evaluate_policy on logs in PostgreSQL: estimates, skipped rows, periods, segments, and bad input."""

import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO

from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import TestCase, override_settings

from recommender.evaluation.logs import SlateBuilder
from recommender.evaluation.offline import evaluate as evaluate_in_memory
from recommender.evaluation.recording import simulation_logs_write
from recommender.evaluation.selectors import policy_evaluation
from recommender.evaluation.simulation import simulate
from recommender.evaluation.simulation_result import DEFAULT_START, ROUND
from recommender.models import FeedbackEvent, TipRequest, TipScore
from recommender.policies import get_policy
from testsupport.cases import make_user

USERS, ROUNDS = 8, 15


def evaluate(*args: str) -> dict:
    out = StringIO()
    call_command("evaluate_policy", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


class EvaluatePolicyTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        result = simulate(users=USERS, rounds=ROUNDS, policies=("egreedy",), seed=4, keep=("egreedy",), shrinkage=10.0)
        cls.written = simulation_logs_write(result=result, policy="egreedy")
        cls.result = result

    def test_it_writes_the_simulated_requests_as_serving_would(self):
        self.assertEqual(self.written["requests"], USERS * ROUNDS)
        self.assertEqual(TipScore.objects.filter(propensity__isnull=True).count(), 0)
        self.assertEqual(TipScore.objects.filter(finalized_at__isnull=True).count(), 0)
        self.assertEqual(FeedbackEvent.objects.count(), self.written["feedback_events"])
        request = TipRequest.objects.first()
        self.assertEqual(request.policy, "egreedy")
        self.assertTrue({"arm", "kind", "source", "features"} <= set(request.candidates[0]))

    def test_it_prints_a_table_with_every_estimator(self):
        out = StringIO()
        call_command("evaluate_policy", "--policy", "thompson", stdout=out)
        text = out.getvalue()
        for label in ("logged policy (observed)", "IPS", "self-normalised IPS", "doubly robust", "95% CI", "ESS"):
            self.assertIn(label, text)
        self.assertIn(f"Requests used: {USERS * ROUNDS}", text)
        self.assertIn("Logged by: egreedy", text)

    def test_its_table_says_it_counts_positions_from_1_where_the_stored_rows_count_from_0(self):
        out = StringIO()
        call_command("evaluate_policy", "--policy", "thompson", "--positions", "all", stdout=out)
        text = out.getvalue()
        self.assertEqual(set(TipScore.objects.values_list("position", flat=True)), {0})  # one tip per slate
        lines = text.splitlines()
        weights = lines[lines.index("Importance weights by position (each should average 1; docs/evaluation.md)") + 2]
        self.assertTrue(weights.startswith("1 "), weights)  # the stored position 0
        self.assertIn("Positions here count from 1 (1 is a slate's first tip); tip_scores.position", text)
        self.assertEqual(evaluate("--policy", "thompson", "--positions", "all")["diagnostics"][0]["position"], 0)

    def test_the_logging_policy_evaluated_on_its_own_logs_is_its_observed_mean(self):
        # Replayed statistics give egreedy exactly the propensities it logged: every weight is 1.
        report = evaluate("--policy", "egreedy", "--epsilon", str(settings.TIPS_EPSILON))
        logged, ips = report["estimates"]["logged"], report["estimates"]["ips"]
        self.assertAlmostEqual(ips["value"], logged["value"], places=9)
        self.assertAlmostEqual(ips["ess"], USERS * ROUNDS, places=6)
        self.assertEqual(report["skipped"], {})

    def test_it_estimates_another_policy_with_intervals_and_effective_sample_size(self):
        report = evaluate("--policy", "uniform")
        for name in ("ips", "snips", "dr"):
            estimate = report["estimates"][name]
            self.assertLess(estimate["low"], estimate["value"])
            self.assertLess(estimate["value"], estimate["high"])
            self.assertLess(estimate["ess"], USERS * ROUNDS)  # uniform disagrees with a learned egreedy

    def test_it_skips_and_counts_legacy_and_pending_rows(self):
        before = evaluate("--policy", "uniform")
        user = make_user("legacy")
        legacy = TipRequest.objects.create(user=user, created_at=DEFAULT_START, policy="egreedy", candidates=[])
        fields = {"user": user, "source": "llm", "title": "Old tip", "score": 0.5, "served_at": DEFAULT_START}
        TipScore.objects.create(request=legacy, position=0, tip_kind=None, propensity=None, reward=0.0, **fields)
        pending = TipRequest.objects.create(
            user=user, created_at=DEFAULT_START, policy="egreedy", candidates=[{"arm": "llm:plan"}]
        )
        TipScore.objects.create(request=pending, position=0, tip_kind="plan", propensity=1.0, **fields)
        after = evaluate("--policy", "uniform")
        self.assertEqual(after["skipped"], {"legacy": 1, "pending": 1})
        self.assertEqual(after["requests"], before["requests"])
        self.assertEqual(after["estimates"]["ips"]["value"], before["estimates"]["ips"]["value"])

    def test_it_counts_a_pick_that_was_not_offered_as_inconsistent(self):
        request = TipRequest.objects.order_by("id").first()
        request.candidates = [{"arm": "llm:wellbeing"}]
        request.save()
        self.assertEqual(evaluate("--policy", "uniform")["skipped"], {"inconsistent": 1})

    def test_it_evaluates_only_the_period_asked(self):
        until = DEFAULT_START + 5 * ROUND
        report = evaluate("--policy", "ucb1", "--until", until.isoformat())
        self.assertEqual(report["requests"], USERS * 5)
        report = evaluate("--policy", "ucb1", "--since", until.isoformat())
        self.assertEqual(report["requests"], USERS * (ROUNDS - 5))

    def test_it_splits_by_tip_kind(self):
        report = evaluate("--policy", "egreedy", "--by", "tip_kind")
        segments = {s["value"]: s for s in report["segments"]}
        self.assertIn("do_now", segments)
        self.assertEqual(sum(s["rows"] for s in segments.values()), USERS * ROUNDS)
        # For the logging policy itself the shares are the logged shares, so they add up to 1.
        self.assertAlmostEqual(sum(s["share"]["value"] for s in segments.values()), 1.0, places=9)

    def test_it_evaluates_every_slate_position_on_request(self):
        report = evaluate("--policy", "thompson", "--positions", "all", "--stats", "frozen")
        self.assertEqual((report["positions"], report["stats"]), ("all", "frozen"))
        self.assertEqual(report["rows"], USERS * ROUNDS)

    def test_it_warns_when_the_target_rarely_picks_what_was_logged(self):
        out = StringIO()
        call_command("evaluate_policy", "--policy", "ucb1", "--stats", "frozen", stdout=out)
        self.assertIn("Warning: the effective sample size", out.getvalue())
        self.assertFalse(evaluate("--policy", "ucb1", "--stats", "frozen")["reliable"])
        self.assertTrue(evaluate("--policy", "egreedy")["reliable"])

    @override_settings(TIPS_SHRINKAGE_STRENGTH=10.0)
    def test_it_reads_from_the_database_exactly_what_was_served(self):
        # The same logs straight from the simulator (no SQL) give the same estimates.
        builder = SlateBuilder().extend(self.result.logged_rows("egreedy"))
        slates = builder.build()
        events = self.result.reward_events("egreedy", builder.arm_id)
        for name in ("thompson", "ucb1"):
            with self.subTest(policy=name):
                policy = get_policy(name)
                memory = evaluate_in_memory(
                    slates=slates, events=events, policy=policy, n_arms=len(builder.arm_ids), shrinkage=10.0
                )
                stored = policy_evaluation(policy=policy)
                for estimator in ("logged", "ips", "snips", "dr"):
                    self.assertAlmostEqual(getattr(stored, estimator).value, getattr(memory, estimator).value, places=9)
                    self.assertAlmostEqual(getattr(stored, estimator).ess, getattr(memory, estimator).ess, places=6)

    def test_its_queries_do_not_grow_with_the_logs(self):
        # One streamed query for the served tips, one for the final rewards, one for the logging policies' parameters.
        with self.assertNumQueries(3):
            policy_evaluation(policy=get_policy("uniform"))


class EvaluatePolicyBadInputTests(TestCase):
    def test_it_rejects_an_unknown_policy_by_name(self):
        with self.assertRaisesMessage(CommandError, "Unknown policy 'greedy'; choose one of: contextual, egreedy"):
            call_command("evaluate_policy", "--policy", "greedy")

    def test_it_points_a_contextual_target_to_the_model_evaluation(self):
        with self.assertRaisesMessage(CommandError, "evaluate a model version with --model N"):
            call_command("evaluate_policy", "--policy", "contextual")

    def test_it_needs_a_policy_or_a_model_but_not_both(self):
        with self.assertRaisesMessage(CommandError, "Name what to evaluate: --policy NAME or --model N."):
            call_command("evaluate_policy")
        with self.assertRaisesMessage(CommandError, "Name what to evaluate"):
            call_command("evaluate_policy", "--policy", "egreedy", "--model", "1")

    def test_it_says_when_the_model_version_does_not_exist(self):
        with self.assertRaisesMessage(CommandError, "There is no model version 999."):
            call_command("evaluate_policy", "--model", "999")

    def test_it_says_when_the_period_is_empty(self):
        with self.assertRaisesMessage(CommandError, "No tips were served in this period."):
            call_command("evaluate_policy", "--policy", "uniform")

    def test_it_says_when_a_period_has_only_legacy_rows(self):
        user = make_user("old")
        request = TipRequest.objects.create(user=user, policy="egreedy", candidates=[])
        TipScore.objects.create(request=request, user=user, position=0, source="llm", title="t", score=0.0)
        with self.assertRaisesMessage(CommandError, "every served tip was skipped (1 legacy)"):
            call_command("evaluate_policy", "--policy", "uniform")

    def test_it_rejects_bad_dates_and_parameters(self):
        cases = [
            (("--since", "2026-02-30"), "--since '2026-02-30' is not a date"),
            (("--until", "yesterday"), "--until 'yesterday' is not a date"),
            (("--since", "2026-02-02", "--until", "2026-02-01"), "--since must be before --until"),
            (("--epsilon", "0.2"), "--epsilon applies to --policy egreedy only"),
        ]
        for args, message in cases:
            with self.subTest(args=args), self.assertRaisesMessage(CommandError, message):
                call_command("evaluate_policy", "--policy", "thompson", *args)
        with self.assertRaisesMessage(CommandError, "epsilon must be in [0, 1]"):
            call_command("evaluate_policy", "--policy", "egreedy", "--epsilon", "1.5")

    def test_it_exits_non_zero_without_a_traceback_from_the_shell(self):
        done = subprocess.run(
            [sys.executable, "manage.py", "evaluate_policy", "--policy", "nope"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            env={"DEBUG": "1", "PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tipengine.settings"},
        )
        self.assertEqual(done.returncode, 1)
        self.assertIn("CommandError: Unknown policy 'nope'", done.stderr)
        self.assertNotIn("Traceback", done.stderr)


class SimulationTimesTests(TestCase):
    def test_rewards_finalize_before_the_next_round_starts(self):
        result = simulate(users=3, rounds=2, policies=("uniform",), seed=0)
        last_request = result.request_time(0, 2)
        self.assertLess(last_request, result.finalized_time(0))
        self.assertLess(result.finalized_time(0), result.request_time(1, 0))
        self.assertEqual(result.request_time(1, 0) - result.request_time(0, 0), timedelta(hours=1))
