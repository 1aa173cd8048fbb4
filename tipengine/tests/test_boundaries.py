"""Import rules read from the source with `ast`: apps depend one way, and no project import hides in a function."""

import ast
from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase

REPO = Path(settings.BASE_DIR)
PROJECT = ("tipengine", "integrations", "generation", "recommender")
# Who may import whom: integrations <- generation <- recommender, tipengine underneath all; and what ships never
# imports the test support, which the image leaves out.
MAY_NOT_IMPORT = {
    "tipengine": {"integrations", "generation", "recommender", "testsupport"},
    "integrations": {"generation", "recommender", "testsupport"},
    "generation": {"recommender", "testsupport"},
    "recommender": {"testsupport"},
}
SKIPPED_PARTS = {"tests", "migrations"}


def modules(app: str) -> list[Path]:
    return [p for p in sorted((REPO / app).rglob("*.py")) if not SKIPPED_PARTS & set(p.relative_to(REPO).parts)]


def imports(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    """Return (node, top-level package) for every absolute import in `tree`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node, node.module.split(".")[0]))
    return found


def forbidden_imports(app: str, source: str, name: str) -> list[str]:
    tree = ast.parse(source, filename=name)
    return [
        f"{name}:{node.lineno} imports {package}" for node, package in imports(tree) if package in MAY_NOT_IMPORT[app]
    ]


def late_imports(source: str, name: str) -> list[str]:
    """Project imports inside a function body (TYPE_CHECKING blocks are module level and so not counted)."""
    tree = ast.parse(source, filename=name)
    found = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node, package in imports(function):
                if package in PROJECT:
                    found.append(f"{name}:{node.lineno} imports {package} inside {function.name}()")
    return sorted(set(found))


def late_import_allowed(path: Path) -> bool:
    """Celery task modules (the worker's import order), AppConfig.ready and management commands may import late."""
    parts = path.relative_to(REPO).parts
    return path.name in {"tasks.py", "apps.py"} or "commands" in parts


class DependencyDirectionTests(SimpleTestCase):
    def test_each_app_imports_only_the_apps_below_it(self):
        offenders = []
        for app in MAY_NOT_IMPORT:
            for path in modules(app):
                offenders += forbidden_imports(app, path.read_text(), str(path.relative_to(REPO)))
        self.assertEqual(offenders, [])

    def test_the_rule_catches_generation_importing_the_recommender(self):
        source = "from recommender.models import TipRequest\nimport recommender.selectors\n"
        self.assertEqual(len(forbidden_imports("generation", source, "generation/x.py")), 2)
        self.assertEqual(forbidden_imports("generation", "import integrations\n", "g.py"), [])

    def test_the_rule_catches_integrations_importing_generation(self):
        self.assertEqual(
            forbidden_imports("integrations", "from generation import gateway\n", "i.py"), ["i.py:1 imports generation"]
        )

    def test_the_rule_catches_shipped_code_importing_the_test_support(self):
        self.assertEqual(
            forbidden_imports("recommender", "from testsupport.cases import BaseTestCase\n", "r.py"),
            ["r.py:1 imports testsupport"],
        )


class LateImportTests(SimpleTestCase):
    def test_no_project_import_sits_inside_a_function_outside_the_allowed_places(self):
        offenders = []
        for app in PROJECT:
            for path in modules(app):
                if not late_import_allowed(path):
                    offenders += late_imports(path.read_text(), str(path.relative_to(REPO)))
        self.assertEqual(offenders, [])

    def test_the_rule_catches_a_function_level_import(self):
        source = "import logging\n\ndef f():\n    import json\n    from generation.selectors import fresh_pool\n"
        self.assertEqual(late_imports(source, "r.py"), ["r.py:5 imports generation inside f()"])
        self.assertTrue(late_import_allowed(REPO / "recommender" / "tasks.py"))
        self.assertFalse(late_import_allowed(REPO / "recommender" / "pipeline.py"))
