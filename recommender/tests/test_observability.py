"""What operators see of serving, generation and feedback: the tipengine_* metrics that move, and the serve line.

Real commits (TransactionTestCase): the LLM call runs on a worker thread. The gateway is the fake Ollama behind
the real litellm router; tasks come from the fake Todoist.
"""

import json

from django.test import TransactionTestCase, override_settings

from generation.breaker import gateway_breaker
from recommender.services.rewards import rewards_finalize_expired
from recommender.tests.serving_utils import ConnectedWithoutPoolMixin
from testsupport.cases import ActorsMixin, captured_logs, metric_value
from testsupport.llm.fake_ollama import Reply, tip, tips_json
from testsupport.llm.gateway import FakeGatewayMixin

TODOIST_TOKEN = "todoist-secret-token-0123456789"
TASK_TEXT = "Call the notary about the inheritance"
REQUEST_ID = "0123456789abcdef0123456789abcdef"


class ObservabilityTests(ConnectedWithoutPoolMixin, FakeGatewayMixin, ActorsMixin, TransactionTestCase):
    todoist_token = TODOIST_TOKEN

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.task = cls.todoist.add_task(TODOIST_TOKEN, content=TASK_TEXT, priority=4)

    def serve(self) -> dict:
        response = self.api(self.alice).get("/api/v1/tips/", {"limit": 10}, HTTP_X_REQUEST_ID=REQUEST_ID)
        self.assertEqual(response.status_code, 200)
        return response.json()

    def test_a_serve_counts_its_tips_and_the_llm_call_and_logs_one_line_without_text_or_tokens(self):
        self.fake.script(Reply.text(tips_json([tip("do_now", [self.task["id"]], title="Notary first")])))
        served = {"source": "llm", "kind": "do_now"}
        alias = {"alias": "tip-generator"}
        before = {
            "served": metric_value("tipengine_tips_served_total", **served),
            "ok": metric_value("tipengine_llm_calls_total", **alias, outcome="ok"),
            "timed": metric_value("tipengine_llm_call_duration_seconds_count", **alias),
            "prompt": metric_value("tipengine_llm_tokens_total", **alias, kind="prompt"),
            "completion": metric_value("tipengine_llm_tokens_total", **alias, kind="completion"),
        }
        with captured_logs() as records:
            body = self.serve()
        self.assertIn(("llm", "do_now"), {(t["source"], t["kind"]) for t in body["tips"]})
        self.assertEqual(metric_value("tipengine_tips_served_total", **served), before["served"] + 1)
        self.assertEqual(metric_value("tipengine_llm_calls_total", **alias, outcome="ok"), before["ok"] + 1)
        self.assertEqual(metric_value("tipengine_llm_call_duration_seconds_count", **alias), before["timed"] + 1)
        # The fake Ollama reports 12 prompt and 7 completion tokens per answer.
        self.assertEqual(metric_value("tipengine_llm_tokens_total", **alias, kind="prompt"), before["prompt"] + 12)
        self.assertEqual(
            metric_value("tipengine_llm_tokens_total", **alias, kind="completion"), before["completion"] + 7
        )

        serve_lines = [r for r in records if r.name == "recommender.services.serving"]
        self.assertEqual(len(serve_lines), 1)
        line = serve_lines[0]
        self.assertEqual(
            (line.tip_request_id, line.policy, line.degraded, line.tips),
            (body["request_id"], "egreedy", [], len(body["tips"])),
        )
        self.assertEqual(set(line.ms), {"assemble", "score", "log", "total"})
        self.assertGreaterEqual(line.ms["total"], line.ms["assemble"])
        # Every line of the request, the LLM call's on its worker thread included, carries the request id.
        self.assertIn("generation.gateway", {r.name for r in records})
        self.assertEqual({r.request_id for r in records}, {REQUEST_ID})
        # Never a token or task text, whatever the level: messages and every field a line adds.
        dumped = "\n".join(r.getMessage() + json.dumps(vars(r), default=str) for r in records)
        for secret in (TODOIST_TOKEN, self.alice.auth_token.key, TASK_TEXT, "Notary first"):
            self.assertNotIn(secret, dumped)

    def test_a_degraded_answer_and_a_failed_call_are_counted_by_code_and_outcome(self):
        # 503: a bare 500 would be taken as the server refusing the structured-output form and retried (ADR 0071).
        self.fake.script(Reply.failure(503))
        before_degraded = metric_value("tipengine_degraded_answers_total", code="llm_unavailable")
        before_failed = metric_value("tipengine_llm_calls_total", alias="tip-generator", outcome="gateway_unavailable")
        body = self.serve()
        self.assertIn("llm_unavailable", {d["code"] for d in body["degraded"]})
        self.assertEqual(metric_value("tipengine_degraded_answers_total", code="llm_unavailable"), before_degraded + 1)
        self.assertEqual(
            metric_value("tipengine_llm_calls_total", alias="tip-generator", outcome="gateway_unavailable"),
            before_failed + 1,
        )

    def test_the_breaker_state_is_read_when_scraped(self):
        def state(name: str) -> float:
            return metric_value("tipengine_llm_breaker_state", breaker="tip-generator", state=name)

        self.assertEqual((state("closed"), state("open")), (1.0, 0.0))
        breaker = gateway_breaker()
        for _ in range(breaker.threshold):
            breaker.record_failure()
        self.assertEqual((state("closed"), state("open"), state("half_open")), (0.0, 1.0, 0.0))

    def test_feedback_counts_by_action_and_rewards_once_final(self):
        body = self.serve()
        tip_ids = [t["id"] for t in body["tips"]][:2]
        before_viewed = metric_value("tipengine_feedback_total", action="viewed")
        before_accepted = metric_value("tipengine_feedback_total", action="accepted")
        before_final = metric_value("tipengine_rewards_finalized_total")
        for tip_id, action in ((tip_ids[0], "viewed"), (tip_ids[1], "dismissed")):
            response = self.api(self.alice).post(f"/api/v1/tips/{tip_id}/feedback/", {"action": action}, format="json")
            self.assertEqual(response.status_code, 201)
        self.assertEqual(metric_value("tipengine_feedback_total", action="viewed"), before_viewed + 1)
        self.assertEqual(metric_value("tipengine_feedback_total", action="accepted"), before_accepted)
        final_by_feedback = metric_value("tipengine_rewards_finalized_total") - before_final
        self.assertEqual(final_by_feedback, 1)  # dismissed is final, viewed is not
        with override_settings(TIPS_REWARD_WINDOW_H=0):
            finalized = rewards_finalize_expired()
        self.assertGreaterEqual(finalized, 1)
        self.assertEqual(metric_value("tipengine_rewards_finalized_total"), before_final + 1 + finalized)
