"""Start-up: settings fail loudly on bad values, production checks pass, and litellm stays unimported."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 30 + "-production-like-secret-" + "z" * 20,
    "ALLOWED_HOSTS": "tips.example.org",
    "DATABASE_URL": "postgres://tipengine@db.example.org:5432/tipengine",
    "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "REDIS_URL": "redis://redis.example.org:6379/0",
    "TASKS_MODE": "inline",
}


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run `argv` with this Python from the repository, the production variables and DEBUG only as `env` says."""
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    full_env = {**clean, "DJANGO_SETTINGS_MODULE": "tipengine.settings", **env}
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return run(["-c", code], **env)


SETUP = "import django; django.setup()"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TIPS_EPSILON", "lots"),
        ("TIPS_EPSILON", "1.5"),
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://x/y"),
        ("DATABASE_URL", "sqlite:///var/tipengine.sqlite3"),  # PostgreSQL only (ADR 0060)
    ],
)
def test_it_refuses_to_start_on_a_malformed_setting(name, value):
    result = run_python(SETUP, **{"DEBUG": "1", name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "TOKEN_ENCRYPTION_KEYS", "REDIS_URL"])
def test_it_refuses_to_start_in_production_without_a_required_setting(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run_python(SETUP, **env)
    assert result.returncode != 0
    assert missing in result.stderr.strip().splitlines()[-1]


def test_manage_py_without_debug_says_in_one_line_what_is_missing_and_that_development_wants_debug_1():
    result = run(["manage.py", "check"])  # DEBUG and every secret unset: a developer who forgot DEBUG=1
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "SECRET_KEY" in line
    assert "DEBUG=1 .venv/bin/python manage.py" in line


def test_manage_py_names_a_malformed_setting_in_one_line_without_the_development_hint():
    result = run(["manage.py", "check"], DEBUG="1", TIPS_EPSILON="lots")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "TIPS_EPSILON='lots' is not valid" in line
    assert "DEBUG=1" not in line


@pytest.mark.parametrize(("value", "expected"), [("5", "5"), ("0", "None")])
def test_it_prepares_repeated_statements_unless_told_not_to(value, expected):
    code = (
        SETUP
        + "; from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    )
    result = run_python(code, **PRODUCTION, DB_PREPARE_THRESHOLD=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [expected]


def test_it_passes_the_deployment_checklist_with_production_values():
    result = run_python(
        "import sys; from django.core.management import execute_from_command_line;"
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNINGS" not in result.stderr
    assert "no issues" in result.stdout


def test_it_does_not_import_litellm_at_start_up_or_on_a_probe():
    code = (
        SETUP + "\nimport sys\nfrom django.test import Client\n"
        "assert Client(HTTP_HOST='127.0.0.1').get('/healthz').status_code == 200\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\nprint('clean')"
    )
    result = run_python(code, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "clean" in result.stdout


def test_it_reads_a_socket_directory_from_a_percent_encoded_host():
    code = SETUP + "; from django.conf import settings; print(settings.DATABASES['default']['HOST'])"
    result = run_python(code, DEBUG="1", DATABASE_URL="postgres://postgres@%2Frun%2Fpostgresql:5432/tipengine")
    assert result.stdout.strip().splitlines()[-1] == "/run/postgresql", result.stderr


def test_llm_refreshes_go_to_their_own_queue_and_the_rest_to_the_default():
    from tipengine.celery import app

    def queue_of(task: str) -> str:
        route = app.amqp.router.route({}, task)
        return route["queue"].name

    assert queue_of("recommender.refresh_candidates") == "llm"
    assert queue_of("integrations.tasks.process_webhook_delivery") == "celery"
    assert queue_of("recommender.finalize_rewards") == "celery"
