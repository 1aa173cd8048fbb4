"""The contextual loop's admin pages: offline evaluations (run, promote, audit trail) and model versions."""

from datetime import timedelta
from io import StringIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recommender.evaluation.recording import simulation_logs_write
from recommender.evaluation.simulation import simulate
from recommender.evaluation.simulation_result import finalized_time
from recommender.models import PolicyEvaluation, PolicyModel, PolicySwitch, TipScore
from recommender.policies.contextual import ContextualModel
from recommender.policies.features import action_lines, shared_line
from recommender.selectors.contextual import logged_examples
from recommender.services.contextual import policy_model_train
from recommender.services.evaluations import policy_evaluation_run
from recommender.tasks import run_policy_evaluation
from testsupport.cases import BaseTestCase

EVALUATIONS = reverse("admin:recommender_policyevaluation_changelist")
RUN = reverse("admin:recommender_policyevaluation_run")
PROMOTE = reverse("admin:recommender_policy_promote")
USERS, ROUNDS, TRAIN_ROUNDS = 200, 30, 20


def worse_model(until) -> PolicyModel:
    """A model taught the opposite of what users answered: it prefers what they like least."""
    model = ContextualModel()
    for example in logged_examples(until=until):
        lines = shared_line(example.candidates, example.stats), action_lines(example.candidates)
        model.learn(*lines, example.chosen, 1.0 - example.reward, example.propensity)
    return PolicyModel.objects.create(trained_until=until, rows=1, weights=model.to_bytes())


@override_settings(TIPS_PROMOTION_MIN_ROWS=500, TIPS_MODEL_RELOADER=False)
class EvaluationsPageTests(BaseTestCase):
    @classmethod
    def setUpTestData(cls):
        # Epsilon-greedy's logs in the contextual world; a model trained on the first rounds, one taught backwards.
        result = simulate(users=USERS, rounds=ROUNDS, policies=("egreedy",), keep=("egreedy",), world="contextual")
        simulation_logs_write(result=result, policy="egreedy")
        cutoff = finalized_time(result.start, TRAIN_ROUNDS - 1)
        cls.better = policy_model_train(until=cutoff)
        cls.worse = worse_model(cutoff)
        cls.held_out = USERS * (ROUNDS - TRAIN_ROUNDS)

    def setUp(self):
        super().setUp()
        self.operator = get_user_model().objects.create_superuser("operator", "op@example.org", "pw")
        self.client.force_login(self.operator)

    def run_button(self, model: PolicyModel):
        with self.captureOnCommitCallbacks(execute=True):  # the task is queued once the row is committed
            return self.client.post(RUN, {"model": model.pk})

    def test_the_run_button_queues_a_task_that_records_the_evaluation(self):
        response = self.run_button(self.better)
        self.assertRedirects(response, EVALUATIONS, fetch_redirect_response=False)
        evaluation = PolicyEvaluation.objects.get()
        self.assertEqual(
            (evaluation.status, evaluation.actor, evaluation.model_id), ("done", "operator", self.better.pk)
        )
        self.assertEqual(evaluation.result["n"], self.held_out)
        self.assertEqual(evaluation.held_out_after, self.better.trained_until)
        self.assertTrue(evaluation.passed)
        self.assertGreater(evaluation.result["difference"]["low"], 0.0)
        page = self.client.get(EVALUATIONS)
        self.assertContains(page, f"Evaluation #{evaluation.pk} of model v{self.better.pk} is queued.")
        self.assertContains(page, '<span class="status status-done">done</span>', html=True)
        self.assertContains(page, "✓ passes the gate: the paired interval")
        self.assertContains(page, f"{evaluation.result['target']['value']:.4f}")
        self.assertContains(page, "<svg")

    def test_the_page_lists_a_refused_evaluation_with_its_verdict(self):
        evaluation = policy_evaluation_run(model_id=self.worse.pk, actor="ops")
        self.assertEqual((evaluation.status, evaluation.passed), ("done", False))
        page = self.client.get(EVALUATIONS)
        self.assertContains(page, "✗ the paired interval [")
        self.assertContains(page, "does not exclude zero from above")
        self.assertContains(page, f"<td>v{self.worse.pk}</td>", html=True)

    def test_the_promote_button_refuses_a_worse_model_with_the_gates_message(self):
        response = self.client.post(PROMOTE, {"model": self.worse.pk}, follow=True)
        self.assertContains(response, f"Model v{self.worse.pk} is not promoted: the paired interval")
        self.assertFalse(PolicySwitch.objects.exists())

    def promote_reading_the_log(self, model: PolicyModel):
        """Post the promote button; also whether the request read the logged picks (an evaluation reads them)."""
        with CaptureQueriesContext(connection) as captured:
            response = self.client.post(PROMOTE, {"model": model.pk}, follow=True)
        read = any(TipScore._meta.db_table in query["sql"] for query in captured.captured_queries)
        return response, read

    def test_the_promote_button_switches_on_a_fresh_evaluation_row_without_evaluating(self):
        evaluation = policy_evaluation_run(model_id=self.better.pk, actor="ops")
        response, read_the_log = self.promote_reading_the_log(self.better)
        self.assertFalse(read_the_log)
        self.assertContains(
            response, f"Serving switched to contextual model v{self.better.pk}, on evaluation #{evaluation.pk}."
        )
        switch = PolicySwitch.objects.get()
        self.assertEqual((switch.model_id, switch.actor, switch.overridden), (self.better.pk, "operator", False))
        self.assertEqual(switch.evaluation, {**evaluation.result, "passed": True})
        self.assertEqual(PolicyEvaluation.objects.count(), 1)

    def test_the_promote_button_refuses_on_a_fresh_refused_row_with_the_gates_message(self):
        policy_evaluation_run(model_id=self.worse.pk, actor="ops")
        response, read_the_log = self.promote_reading_the_log(self.worse)
        self.assertFalse(read_the_log)
        self.assertContains(response, f"Model v{self.worse.pk} is not promoted: the paired interval")
        self.assertContains(response, "does not exclude zero from above")
        self.assertFalse(PolicySwitch.objects.exists())

    def test_a_day_old_evaluation_is_not_evidence_the_button_evaluates_again(self):
        evaluation = policy_evaluation_run(model_id=self.better.pk, actor="ops")
        PolicyEvaluation.objects.filter(pk=evaluation.pk).update(finished_at=evaluation.finished_at - timedelta(days=1))
        response, read_the_log = self.promote_reading_the_log(self.better)
        self.assertTrue(read_the_log)
        self.assertContains(
            response, f"Serving switched to contextual model v{self.better.pk}, on an evaluation run now."
        )

    def test_an_override_needs_a_reason_and_is_recorded_with_it(self):
        response = self.client.post(PROMOTE, {"model": self.worse.pk, "override": "on", "reason": "  "})
        self.assertContains(response, "An override needs a reason")
        self.assertFalse(PolicySwitch.objects.exists())
        reason = "one-week trial on all traffic"
        response = self.client.post(PROMOTE, {"model": self.worse.pk, "override": "on", "reason": reason}, follow=True)
        self.assertContains(response, f"Serving switched to contextual model v{self.worse.pk} (gate overridden), on ")
        switch = PolicySwitch.objects.get()
        self.assertEqual((switch.actor, switch.overridden, switch.reason), ("operator", True, reason))
        self.assertContains(response, "<strong>overridden</strong>", html=True)
        self.assertContains(response, reason)
        self.assertContains(response, f"Serving: <strong>contextual model v{self.worse.pk}</strong>")

    def test_the_command_dry_run_records_its_evaluation_too(self):
        out = StringIO()
        call_command("promote_policy", "--model", str(self.worse.pk), "--dry-run", "--actor", "ops", stdout=out)
        evaluation = PolicyEvaluation.objects.get()
        self.assertEqual((evaluation.actor, evaluation.status, evaluation.passed), ("ops", "done", False))
        self.assertIn(f'"evaluation": {evaluation.pk}', out.getvalue())
        self.assertIn("does not exclude zero from above", out.getvalue())
        self.assertFalse(PolicySwitch.objects.exists())


@override_settings(TIPS_MODEL_RELOADER=False)
class EvaluationRowsTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.operator = get_user_model().objects.create_superuser("operator", "op@example.org", "pw")
        self.client.force_login(self.operator)

    def test_a_model_that_cannot_be_read_is_a_failed_row_with_the_reason(self):
        broken = PolicyModel.objects.create(rows=1, weights=b"not a model")
        evaluation = policy_evaluation_run(model_id=broken.pk, actor="ops")
        self.assertEqual(evaluation.status, "failed")
        self.assertIn("The evaluation failed: ValueError", evaluation.error)
        self.assertIsNotNone(evaluation.finished_at)
        self.assertContains(self.client.get(EVALUATIONS), '<span class="status status-failed">failed</span>', html=True)

    def test_the_task_is_idempotent_and_answers_for_a_missing_row(self):
        model = PolicyModel.objects.create(rows=1, weights=ContextualModel().to_bytes())
        evaluation = policy_evaluation_run(model_id=model.pk, actor="ops")  # no held-out picks: refused
        self.assertIn("only 0 held-out picks", evaluation.verdict)
        finished = evaluation.finished_at
        self.assertEqual(run_policy_evaluation(evaluation.pk), "done")  # redelivered: kept as it was
        evaluation.refresh_from_db()
        self.assertEqual(evaluation.finished_at, finished)
        self.assertEqual(run_policy_evaluation(10**9), "missing")

    def test_a_queued_evaluation_shows_and_the_page_refreshes_itself(self):
        model = PolicyModel.objects.create(rows=1, weights=ContextualModel().to_bytes())
        PolicyEvaluation.objects.create(model=model, actor="ops")
        page = self.client.get(EVALUATIONS)
        self.assertContains(page, '<span class="status status-queued">queued</span>', html=True)
        self.assertContains(page, '<meta http-equiv="refresh" content="5">')

    def test_the_page_costs_the_same_queries_for_one_evaluation_or_many(self):
        model = PolicyModel.objects.create(rows=1, weights=ContextualModel().to_bytes())
        policy_evaluation_run(model_id=model.pk, actor="ops")
        PolicySwitch.objects.create(policy="contextual", model=model, actor="ops", overridden=True, reason="r")
        self.client.get(EVALUATIONS)  # the session and the content types are cached after the first view
        # Session and user, evaluations, pending, versions, the serving switch, switches.
        with self.assertNumQueries(7) as one:
            self.client.get(EVALUATIONS)
        for _ in range(5):
            policy_evaluation_run(model_id=model.pk, actor="ops")
            PolicySwitch.objects.create(policy="contextual", model=model, actor="ops", overridden=True, reason="r")
        with self.assertNumQueries(len(one.captured_queries)):
            self.client.get(EVALUATIONS)

    def test_running_and_promoting_need_permissions_a_post_and_the_csrf_token(self):
        model = PolicyModel.objects.create(rows=1, weights=ContextualModel().to_bytes())
        self.assertEqual(self.client.get(RUN).status_code, 405)
        csrf_client = Client(enforce_csrf_checks=True)
        csrf_client.force_login(self.operator)
        self.assertEqual(csrf_client.post(RUN, {"model": model.pk}).status_code, 403)
        viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_policyevaluation"))
        self.client.force_login(viewer)
        self.assertEqual(self.client.get(EVALUATIONS).status_code, 200)
        self.assertEqual(self.client.post(RUN, {"model": model.pk}).status_code, 403)
        self.assertEqual(self.client.post(PROMOTE, {"model": model.pk}).status_code, 403)
        self.assertFalse(PolicyEvaluation.objects.exists())
        self.client.force_login(self.alice)  # not staff: the admin's login page
        self.assertEqual(self.client.get(EVALUATIONS).status_code, 302)

    def test_the_admin_index_links_both_pages(self):
        index = self.client.get(reverse("admin:index"))
        self.assertContains(index, f'<a href="{EVALUATIONS}">Offline evaluations</a>', html=True)
        models = reverse("admin:recommender_policymodel_changelist")
        self.assertContains(index, f'<a href="{models}">Policy models</a>', html=True)
