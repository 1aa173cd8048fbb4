"""Parsing and validating model answers (no network: the answers are strings)."""

from django.test import SimpleTestCase

from generation.parsing import OutputError, extract_json, parse_tips
from generation.tests.utils import sample_context
from testsupport.llm.fake_ollama import fenced, prose_wrapped, tip, tips_json

PAYLOAD = {"tips": [{"kind": "do_now"}]}
TEXT = tips_json(PAYLOAD["tips"])


def parse(answer: str):
    return parse_tips(answer, context=sample_context(), llm_model="m", prompt_version="tips-abc")


class ExtractJsonTests(SimpleTestCase):
    def test_it_reads_json_in_any_wrapping(self):
        wrappings = {
            "plain": TEXT,
            "whitespace": f"\n\n  {TEXT}  \n",
            "json fence": fenced(TEXT, "```json"),
            "bare fence": fenced(TEXT, "```"),
            "tilde fence": fenced(TEXT, "~~~"),
            "tilde json fence": fenced(TEXT, "~~~json"),
            "prose before and after": prose_wrapped(TEXT),
            "prose with braces first": "Use {curly} braces? Fine: " + TEXT + " (done)",
            "fence after prose": "Result:\n" + fenced(TEXT) + "\nBye",
            "unclosed fence": "```json\n" + TEXT,
        }
        for name, text in wrappings.items():
            with self.subTest(name):
                self.assertEqual(extract_json(text), PAYLOAD)

    def test_it_prefers_the_object_with_the_expected_key(self):
        text = 'For example {"kind": "x"} would be wrong; the answer: ' + TEXT
        self.assertEqual(extract_json(text, prefer_key="tips"), PAYLOAD)
        self.assertEqual(extract_json(text), {"kind": "x"})  # without a preference: the first JSON found
        self.assertEqual(extract_json('{"other": 1}', prefer_key="tips"), {"other": 1})  # else the first

    def test_it_rejects_what_is_not_json(self):
        for text in ("", "   ", "no json here", '{"tips": [', "```json\n{oops}\n```"):
            with self.subTest(text=text), self.assertRaises(OutputError):
                extract_json(text)


class ParseTipsTests(SimpleTestCase):
    def test_it_builds_llm_candidates_with_model_prompt_and_features(self):
        [candidate] = parse(tips_json([tip("do_now", ["101"])])).candidates
        self.assertEqual((candidate.source, candidate.llm_model, candidate.prompt_version), ("llm", "m", "tips-abc"))
        self.assertEqual(candidate.arm, "llm:do_now")
        # Task 101 is two days overdue at priority 4 in the sample context.
        self.assertEqual(candidate.features, {"task_count": 1, "due_age_days": 2, "max_priority": 4})

    def test_it_accepts_numeric_task_ids_and_a_bare_list(self):
        [candidate] = parse('[{"kind": "do_now", "title": "t", "body": "b", "task_ids": [101]}]').candidates
        self.assertEqual(candidate.task_ids, ("101",))
        self.assertEqual(candidate.rationale, "")

    def test_it_drops_each_kind_of_bad_tip_and_counts_it(self):
        cases = {
            "unknown_kind": tip("procrastinate"),
            "empty_text": tip("plan", body=""),
            "too_long": tip("plan", title="t" * 121),
            "unknown_task_ids": tip("do_now", ["101", "nope"]),
            "bad_task_ids": {**tip("do_now"), "task_ids": "101"},
            "not_an_object": "do this",
        }
        for reason, bad in cases.items():
            with self.subTest(reason):
                result = parse(tips_json([bad, tip("plan")]))
                self.assertEqual([c.kind for c in result.candidates], ["plan"])
                self.assertEqual(dict(result.dropped), {reason: 1})

    def test_it_keeps_fields_at_their_exact_limits(self):
        result = parse(tips_json([tip("plan", title="t" * 120, body="b" * 500, rationale="r" * 300)]))
        self.assertEqual(len(result.candidates), 1)

    def test_it_merges_duplicates_keeping_the_first(self):
        answer = tips_json(
            [
                tip("do_now", ["101"], title="First"),
                tip("do_now", ["101"], title="Second"),
                tip("plan", title="Plan  the WEEK"),
                tip("plan", title="plan the week"),
                tip("batch", ["102", "103"]),
                tip("batch", ["103", "102"]),
            ]
        )
        result = parse(answer)
        self.assertEqual([c.title for c in result.candidates], ["First", "Plan the WEEK", "A batch tip"])
        self.assertEqual(result.merged, 3)

    def test_it_fails_when_the_shape_is_wrong_or_nothing_is_valid(self):
        for answer in ('{"advice": []}', '"just a string"', '{"tips": "none"}', tips_json([tip("nope")])):
            with self.subTest(answer=answer), self.assertRaises(OutputError):
                parse(answer)

    def test_it_explains_what_was_wrong_for_the_correction_prompt(self):
        with self.assertRaises(OutputError) as caught:
            parse(tips_json([tip("nap"), tip("plan", title="t" * 200)]))
        message = str(caught.exception)
        self.assertIn("kind 'nap' is not one of do_now", message)
        self.assertIn("title has 200 characters, the limit is 120", message)
