"""A model that answers garbage trips the breaker; a server that rejects the schema form still serves; every
generation reports what it returned, kept, dropped and grounded. All through the real Router and fake Ollama."""

from pathlib import Path
from tempfile import TemporaryDirectory

import yaml
from django.conf import settings
from django.test import SimpleTestCase, override_settings

from generation import gateway, structured
from generation.breaker import gateway_breaker
from generation.errors import CircuitOpen, InvalidOutput
from generation.reporting import GenerationReport, generation_reported
from generation.tests.utils import sample_context
from generation.tip_generator import MAX_CORRECTIONS, generate_tips
from testsupport.llm.fake_ollama import Reply, tip, tips_json
from testsupport.llm.gateway import FakeGatewayMixin

GARBAGE = "I am sorry, I cannot help with that. {not json"
ATTEMPTS_PER_REFRESH = 1 + MAX_CORRECTIONS


class ReportsMixin:
    def capture_reports(self) -> list[GenerationReport]:
        reports: list[GenerationReport] = []

        def receive(*, report: GenerationReport, **_: object) -> None:
            reports.append(report)

        generation_reported.connect(receive, weak=False)
        self.addCleanup(generation_reported.disconnect, receive)  # type: ignore[attr-defined]
        return reports


class GarbageTripsTheBreakerTests(ReportsMixin, FakeGatewayMixin, SimpleTestCase):
    def refresh(self) -> str:
        try:
            generate_tips(context=sample_context(), timeout_s=3.0)
        except (InvalidOutput, CircuitOpen) as exc:
            return exc.code
        return "ok"

    def test_it_stops_calling_a_model_that_only_answers_garbage(self):
        self.fake.default = Reply.text(GARBAGE)
        self.addCleanup(setattr, self.fake, "default", Reply.text(tips_json([tip()])))
        threshold = settings.GENERATION_BREAKER_THRESHOLD
        outcomes = [self.refresh() for _ in range(threshold + 5)]
        self.assertEqual(outcomes, ["invalid_output"] * threshold + ["circuit_open"] * 5)
        # Each refresh asked at most 1 + 2 times; once open, the breaker asks nobody.
        self.assertEqual(len(self.fake.chat_requests), threshold * ATTEMPTS_PER_REFRESH)
        self.assertTrue(gateway_breaker().is_open())

    def test_a_usable_answer_after_garbage_clears_the_count(self):
        threshold = settings.GENERATION_BREAKER_THRESHOLD
        for _ in range(threshold - 1):
            self.fake.script(*[Reply.text(GARBAGE)] * ATTEMPTS_PER_REFRESH)
            self.assertEqual(self.refresh(), "invalid_output")
        self.fake.script(Reply.text(GARBAGE), Reply.text(tips_json([tip("do_now", ["101"])])))
        self.assertEqual(self.refresh(), "ok")  # corrected on the second attempt: a usable answer
        self.fake.script(*[Reply.text(GARBAGE)] * ATTEMPTS_PER_REFRESH)
        self.assertEqual(self.refresh(), "invalid_output")
        self.assertFalse(gateway_breaker().is_open())

    def test_it_reports_each_garbage_answer_and_the_drops_in_it(self):
        reports = self.capture_reports()
        bad_ids = tips_json([tip("do_now", ["999"])])  # the only tip names a task that is not listed
        self.fake.script(Reply.text(GARBAGE), Reply.text(bad_ids), Reply.text(GARBAGE))
        self.assertEqual(self.refresh(), "invalid_output")
        [report] = reports
        self.assertEqual((report.outcome, report.attempts, report.unusable_answers), ("invalid_output", 3, 3))
        self.assertEqual((report.returned, report.kept, dict(report.dropped)), (1, 0, {"unknown_task_ids": 1}))


class GroundingReportTests(ReportsMixin, FakeGatewayMixin, SimpleTestCase):
    def test_it_reports_returned_kept_dropped_and_grounded_per_generation(self):
        reports = self.capture_reports()
        answer = [
            tip("do_now", ["101"]),
            tip("batch", ["102", "103"], title="Two calls in one go"),
            tip("break_down", ["555"], title="Split the unknown task"),  # not a listed task: dropped
            tip("plan", [], title="Plan the week"),  # about the whole list: kept, not grounded
            tip("plan", [], title="Plan the week"),  # the same tip again: merged
        ]
        self.fake.script(Reply.text(tips_json(answer)))
        result = generate_tips(context=sample_context(), timeout_s=3.0)
        [report] = reports
        self.assertIs(result.report, report)
        self.assertEqual((report.outcome, report.attempts, report.returned), ("ok", 1, 5))
        self.assertEqual((report.kept, report.grounded, report.merged), (3, 2, 1))
        self.assertEqual(dict(report.dropped), {"unknown_task_ids": 1})
        self.assertAlmostEqual(report.grounded_share, 2 / 3)
        self.assertEqual((report.prompt_tokens, report.completion_tokens), (12, 7))

    def test_the_prompt_asks_for_tips_about_the_listed_tasks(self):
        generate_tips(context=sample_context(), timeout_s=3.0)
        system = self.fake.chat_requests[0].messages[0]["content"]
        self.assertIn("Every tip is about tasks on their list", system)

    def test_it_logs_the_report_in_one_line_without_task_text(self):
        with self.assertLogs("generation.reporting", "INFO") as logs:
            generate_tips(context=sample_context(), timeout_s=3.0)
        [line] = logs.output
        self.assertIn("returned=1 kept=1 grounded=0", line)
        self.assertNotIn("quarterly report", line)


class SchemaFormFallbackTests(FakeGatewayMixin, SimpleTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.fake.reject_json_schema = True  # as the real-model bench's server does
        self.addCleanup(setattr, self.fake, "reject_json_schema", False)

    def formats(self) -> list[object]:
        return [request.body.get("format") for request in self.fake.chat_requests]

    def test_it_asks_again_in_json_mode_and_stays_there(self):
        for _ in range(5):
            result = generate_tips(context=sample_context(), timeout_s=3.0)
            self.assertEqual(len(result.candidates), 1)
        schema_form, *json_mode = self.formats()
        self.assertIsInstance(schema_form, dict)  # the first call tried the grammar, and got a 500
        self.assertEqual(json_mode, ["json"] * 5)  # then one JSON-mode call per generation
        self.assertFalse(gateway_breaker().is_open())

    def test_the_retry_in_json_mode_counts_as_an_attempt(self):
        self.fake.script(Reply.text(GARBAGE), Reply.text(GARBAGE), Reply.text(GARBAGE))
        with self.assertRaises(InvalidOutput):
            generate_tips(context=sample_context(), timeout_s=3.0)
        self.assertEqual(len(self.fake.chat_requests), ATTEMPTS_PER_REFRESH)

    def test_the_alias_file_can_ask_for_json_mode_from_the_start(self):
        config = gateway.load_config()
        for entry in config["model_list"]:
            if entry["model_name"] == gateway.TIP_GENERATOR:
                entry.setdefault("model_info", {})[structured.SETTING] = structured.JSON_OBJECT
        with TemporaryDirectory() as folder:
            path = Path(folder) / "litellm_config.yaml"
            path.write_text(yaml.safe_dump(config))
            with override_settings(LITELLM_CONFIG_PATH=str(path)):
                generate_tips(context=sample_context(), timeout_s=3.0)
        self.assertEqual(self.formats(), ["json"])


class LocalModelAliasFileTests(SimpleTestCase):
    def test_the_local_model_variant_defines_every_alias_and_asks_for_json_mode(self):
        main_aliases = {e["model_name"] for e in gateway.load_config()["model_list"]}
        local = Path(settings.BASE_DIR) / "infra" / "litellm" / "litellm_config.local.yaml"
        with override_settings(LITELLM_CONFIG_PATH=str(local)):
            self.assertEqual({e["model_name"] for e in gateway.load_config()["model_list"]}, main_aliases)
            self.assertEqual(structured.configured_form(gateway.TIP_GENERATOR), structured.JSON_OBJECT)
        self.assertEqual(structured.configured_form(gateway.TIP_GENERATOR), structured.JSON_SCHEMA)
