"""docs/api.md's error-code table lists exactly the codes an error answer can carry (tipengine.errors.error_codes)."""

import ast
import re
from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase

from tipengine.errors import error_codes

REPO = Path(settings.BASE_DIR)
SHIPPED = ("tipengine", "integrations", "generation", "recommender")
CODE = re.compile(r"`([a-z][a-z_]*)`")  # what a code looks like; settings, headers and `details.x` do not


def documented_codes(text: str) -> set[str]:
    """Return the codes in the `| status | codes |` table of the page's "Errors" section."""
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    table = section.split("| status | codes |\n", 1)[1].split("\n\n", 1)[0]
    return {code for row in table.splitlines()[1:] for code in CODE.findall(row.split("|")[2])}


def error_body_codes(source: str) -> set[str]:
    """Return the literal codes passed to error_body() in `source`."""
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "error_body"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


class ErrorCodesDocumentedTests(SimpleTestCase):
    def test_docs_api_lists_every_code_and_no_other(self):
        documented = documented_codes((REPO / "docs" / "api.md").read_text())
        self.assertEqual(sorted(set(error_codes()) - documented), [], "codes missing from docs/api.md's table")
        self.assertEqual(sorted(documented - set(error_codes())), [], "docs/api.md lists codes nothing answers")

    def test_every_error_body_call_answers_a_known_code(self):
        found: dict[str, str] = {}
        for app in SHIPPED:
            for path in sorted((REPO / app).rglob("*.py")):
                if "tests" not in path.relative_to(REPO).parts:
                    found |= {code: str(path.relative_to(REPO)) for code in error_body_codes(path.read_text())}
        self.assertEqual({code: path for code, path in found.items() if code not in error_codes()}, {})

    def test_the_reader_finds_codes_in_the_table_only(self):
        page = (
            "# x\n\n## Errors\n\nSee `ignored`.\n\n| status | codes |\n|---|---|\n"
            "| 400 | `invalid` (with `details.fields`), `THROTTLE_*_RATE`, `parse_error` |\n\n"
            "Not `this_one`.\n\n## CORS\n"
        )
        self.assertEqual(documented_codes(page), {"invalid", "parse_error"})
        self.assertEqual(error_body_codes('error_body("a", "m")\nerrors.error_body("b", "m")\nf(x)\n'), {"a", "b"})
