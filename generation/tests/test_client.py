"""JSON retry and validation end to end: generate_tips -> real litellm Router -> fake Ollama."""

from django.test import SimpleTestCase, override_settings

from generation.breaker import gateway_breaker
from generation.errors import CircuitOpen, GatewayUnavailable, InvalidOutput, RequestRejected
from generation.prompting import MAX_QUOTED_ANSWER_CHARS, load_template
from generation.tests.test_gateway import configured_model
from generation.tests.utils import sample_context, task
from generation.tip_generator import generate_tips
from testsupport.llm.fake_ollama import Reply, fenced, prose_wrapped, tip, tips_json
from testsupport.llm.gateway import FakeGatewayMixin

VALID = tips_json([tip("do_now", ["101"]), tip("plan", [], title="Plan the week")])
MALFORMED = '{"tips": [{"kind": "do_now", "title": '


class GenerateTipsTests(FakeGatewayMixin, SimpleTestCase):
    def generate(self, **kwargs):
        return generate_tips(context=sample_context(), timeout_s=kwargs.pop("timeout_s", 3.0), **kwargs)

    def assert_valid_candidates(self, result):
        self.assertEqual([c.kind for c in result.candidates], ["do_now", "plan"])
        for candidate in result.candidates:
            self.assertEqual(candidate.source, "llm")
            self.assertEqual(candidate.llm_model, configured_model("tip-generator"))
            self.assertEqual(candidate.prompt_version, load_template().version)
        self.assertEqual(result.candidates[0].task_ids, ("101",))

    def test_it_returns_valid_candidates_from_plain_json(self):
        self.fake.script(Reply.text(VALID))
        result = self.generate()
        self.assert_valid_candidates(result)
        self.assertEqual(result.attempts, 1)

    def test_it_accepts_every_fence_variant_and_prose_around_the_json(self):
        answers = {
            "json fence": fenced(VALID, "```json"),
            "bare fence": fenced(VALID, "```"),
            "tilde fence": fenced(VALID, "~~~"),
            "fence with prose": "Here you go:\n" + fenced(VALID, "```JSON") + "\nHope this helps!",
            "prose only": prose_wrapped(VALID),
            "unclosed fence": "```json\n" + VALID,
        }
        for name, answer in answers.items():
            with self.subTest(name):
                self.fake.reset()
                self.fake.script(Reply.text(answer))
                result = self.generate()
                self.assert_valid_candidates(result)
                self.assertEqual(len(self.fake.chat_requests), 1)

    def test_it_corrects_a_malformed_answer_quoting_the_error(self):
        self.fake.script(Reply.text(MALFORMED), Reply.text(VALID))
        result = self.generate()
        self.assert_valid_candidates(result)
        self.assertEqual(result.attempts, 2)
        first, second = self.fake.chat_requests
        self.assertEqual(len(second.messages), len(first.messages) + 2)
        self.assertEqual(second.messages[-2]["role"], "assistant")
        self.assertEqual(second.messages[-2]["content"], MALFORMED)
        self.assertIn("not valid JSON", second.last_user_message)

    def test_it_succeeds_on_the_third_and_last_attempt(self):
        self.fake.script(Reply.text("I cannot do that."), Reply.text(MALFORMED), Reply.text(VALID))
        result = self.generate()
        self.assertEqual(result.attempts, 3)
        self.assertEqual(len(self.fake.chat_requests), 3)

    def test_it_gives_up_after_exactly_three_malformed_answers(self):
        self.fake.script(*[Reply.text(MALFORMED)] * 5)
        with self.assertRaises(InvalidOutput) as caught:
            self.generate()
        self.assertEqual(len(self.fake.chat_requests), 3)
        self.assertEqual(caught.exception.details["attempts"], 3)
        self.assertFalse(caught.exception.details["out_of_time"])
        self.assertFalse(gateway_breaker().is_open())  # the gateway works; the model is at fault

    def test_it_drops_and_counts_bad_candidates_without_failing(self):
        answer = tips_json(
            [
                tip("do_now", ["101"]),
                tip("meditate", []),  # unknown kind
                tip("plan", [], title="   "),  # empty text
                tip("batch", [], body="x" * 501),  # too long
                tip("reschedule", ["999"]),  # task not in the context
                tip("do_now", ["101"], title="Same task again"),  # duplicate of the first
            ]
        )
        self.fake.script(Reply.text(answer))
        result = self.generate()
        self.assertEqual([(c.kind, c.task_ids) for c in result.candidates], [("do_now", ("101",))])
        self.assertEqual(
            dict(result.dropped), {"unknown_kind": 1, "empty_text": 1, "too_long": 1, "unknown_task_ids": 1}
        )
        self.assertEqual(result.merged, 1)
        self.assertEqual(result.attempts, 1)

    def test_it_asks_again_when_every_candidate_is_invalid(self):
        self.fake.script(Reply.text(tips_json([tip("do_now", ["999"])])), Reply.text(VALID))
        result = self.generate()
        self.assertEqual(result.attempts, 2)
        self.assertIn("['999'] are not in the context", self.fake.chat_requests[1].last_user_message)

    def test_it_accepts_an_empty_list_of_tips(self):
        self.fake.script(Reply.text('{"tips": []}'))
        result = self.generate()
        self.assertEqual((result.candidates, result.attempts), ([], 1))

    def test_it_sends_the_context_and_the_schema(self):
        self.generate()
        [request] = self.fake.chat_requests
        system, user = request.messages[0]["content"], request.messages[1]["content"]
        self.assertIn("JSON only", system)
        self.assertIn("2026-03-10 (Tuesday)", user)
        self.assertIn("Write the quarterly report", user)
        self.assertEqual(request.body["format"]["properties"]["tips"]["type"], "array")
        kinds = request.body["format"]["properties"]["tips"]["items"]["properties"]["kind"]["enum"]
        self.assertIn("wellbeing", kinds)

    def test_it_does_not_retry_a_gateway_failure(self):
        self.fake.script(Reply.failure(503))
        with self.assertRaises(GatewayUnavailable):
            self.generate()
        self.assertEqual(len(self.fake.chat_requests), 1)

    def test_it_keeps_every_attempt_within_the_budget(self):
        self.fake.script(Reply.text(MALFORMED), Reply.slow(5.0))
        with self.assertRaises(GatewayUnavailable) as caught:
            self.generate(timeout_s=0.3)
        self.assertEqual(caught.exception.details["reason"], "timeout")
        self.assertEqual(len(self.fake.chat_requests), 2)

    @override_settings(GENERATION_BREAKER_THRESHOLD=2)
    def test_it_opens_the_breaker_after_repeated_failures_and_then_skips_the_gateway(self):
        self.fake.script(Reply.failure(502), Reply.failure(503))
        for _ in range(2):
            with self.assertRaises(GatewayUnavailable):
                self.generate()
        with self.assertRaises(CircuitOpen) as caught:
            self.generate()
        self.assertEqual(len(self.fake.chat_requests), 2)  # the third call never left the process
        self.assertGreater(caught.exception.details["retry_after_s"], 0)

    def test_it_does_not_count_rejected_requests_as_outages(self):
        self.fake.script(*[Reply.failure(400)] * 4)
        for _ in range(4):
            with self.assertRaises(RequestRejected):
                self.generate()
        self.assertFalse(gateway_breaker().is_open())

    def test_it_logs_models_and_counts_but_never_task_text_or_answers(self):
        secret_task = task("101", "Call Dr. Quackenbush about the biopsy results", priority=4)
        self.fake.script(Reply.text("Dr. Quackenbush says: not JSON"), Reply.text(VALID))
        with self.assertLogs("generation", level="DEBUG") as logs:
            generate_tips(context=sample_context(tasks=[secret_task]), timeout_s=3.0)
        text = "\n".join(logs.output)
        self.assertIn(configured_model("tip-generator"), text)
        self.assertIn("attempts=2", text)
        self.assertNotIn("Quackenbush", text)

    def test_it_truncates_overlong_quoted_answers_in_corrections(self):
        self.fake.script(Reply.text("x" * 10_000), Reply.text(VALID))
        self.generate()
        quoted = self.fake.chat_requests[1].messages[-2]["content"]
        self.assertEqual(quoted, "x" * MAX_QUOTED_ANSWER_CHARS)
