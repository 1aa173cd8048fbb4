"""Structural guarantees: litellm stays out of Django start-up; Python names aliases, never models."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from django.conf import settings
from django.test import SimpleTestCase

REPO = Path(settings.BASE_DIR)
# Model families that must only appear in infra/litellm/litellm_config.yaml (plus whatever it names).
MODEL_FAMILIES = ("qwen", "claude", "nomic", "llama", "mistral", "gemma", "phi3", "deepseek", "gpt-4", "gpt-3")
# Application code only: tests, fakes, migrations and bench/ (synthetic data may name past models) are exempt.
EXCLUDED_PARTS = {".venv", "tests", "testsupport", "migrations", "node_modules", "var", "bench"}


def configured_model_names() -> set[str]:
    config = yaml.safe_load((REPO / "infra" / "litellm" / "litellm_config.yaml").read_text())
    names = set()
    for entry in config["model_list"]:
        model = entry["litellm_params"]["model"].split("/", 1)[-1]  # drop the provider prefix
        names.update({model, model.split(":")[0]})
    return names


class LazyImportTests(SimpleTestCase):
    def test_it_keeps_litellm_out_of_django_start_up_and_healthz(self):
        script = """
import sys
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
import generation.selectors, generation.services, generation.admin  # noqa: F401
import recommender.pipeline, recommender.tasks  # noqa: F401
response = Client().get("/healthz")
assert response.status_code == 200, response.status_code
print("litellm" in sys.modules)
"""
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testsupport.settings"}
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        self.assertEqual(done.stdout.strip().splitlines()[-1], "False")


class AliasOnlyTests(SimpleTestCase):
    def test_it_finds_no_concrete_model_name_in_python_code(self):
        names = {n.lower() for n in configured_model_names()} | set(MODEL_FAMILIES)
        pattern = re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(n) for n in sorted(names)) + ")", re.IGNORECASE)
        offenders = []
        for path in REPO.rglob("*.py"):
            if EXCLUDED_PARTS & set(path.relative_to(REPO).parts):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
        self.assertEqual(offenders, [], "name models by alias; concrete names belong in litellm_config.yaml")

    def test_the_scan_would_catch_a_model_name(self):
        names = configured_model_names()
        self.assertTrue({"qwen2.5", "nomic-embed-text", "claude-haiku-4-5"} <= names, names)
