"""The image's configuration: static files built as the Dockerfile builds them, served with DEBUG=0, and probes."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tipengine.generate_secrets import secret_lines
from tipengine.tests.test_settings import PRODUCTION, ROOT, run_python

SETUP = "import django; django.setup()\nfrom django.test import Client\n"


def dockerfile_collectstatic() -> str:
    """Return the Dockerfile's collectstatic command, exactly as the image runs it."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^RUN (.*manage\.py collectstatic[^&\n]*)", text, re.MULTILINE)
    assert match, "the Dockerfile runs no collectstatic"
    return match.group(1).strip()


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """Static files collected by the Dockerfile's own command (the image's python is the venv's here)."""
    root = tmp_path_factory.mktemp("static")
    bin_dir = str(Path(os.sys.executable).parent)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STATIC_ROOT": str(root), "HOME": str(root)}
    result = subprocess.run(
        dockerfile_collectstatic(), shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return root


def test_the_image_builds_the_manifest_that_production_serves(static_root):
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    assert re.fullmatch(r"admin/css/base\.[0-9a-f]{12}\.css", manifest["paths"]["admin/css/base.css"])


def test_the_admin_login_page_and_its_stylesheet_answer_with_debug_off(static_root):
    code = SETUP + (
        "client = Client(HTTP_HOST='tips.example.org')\n"
        "page = client.get('/admin/login/', secure=True)\n"
        "import re\n"
        "css = re.search(r'href=\"(/static/admin/css/base\\.[0-9a-f]+\\.css)\"', page.content.decode()).group(1)\n"
        "sheet = client.get(css, secure=True)\n"
        "print(page.status_code, sheet.status_code, sheet['Content-Type'].split(';')[0], css)"
    )
    result = run_python(code, **PRODUCTION, STATIC_ROOT=str(static_root))
    assert result.returncode == 0, result.stderr
    page, sheet, content_type, _ = result.stdout.split()
    assert (page, sheet) == ("200", "200")
    assert content_type == "text/css"


def test_a_probe_or_scraper_by_the_container_address_over_plain_http_is_answered_but_nothing_else_is():
    code = SETUP + (
        "probe = Client(HTTP_HOST='127.0.0.1:8000')\n"
        "site = Client(HTTP_HOST='tips.example.org')\n"
        "scrape = probe.get('/metrics', HTTP_AUTHORIZATION='Bearer m')\n"
        "print(probe.get('/healthz').status_code, scrape.status_code, probe.get('/readyz').status_code,"
        " site.get('/api/v1/tips/').status_code, site.get('/api/v1/tips/')['Location'])"
    )
    result = run_python(code, **PRODUCTION, METRICS_TOKEN="m")
    assert result.returncode == 0, result.stderr
    # /healthz and /metrics: 200; /readyz from an unlisted host: 400; the API over plain HTTP: redirected to https.
    assert result.stdout.split() == ["200", "200", "400", "301", "https://tips.example.org/api/v1/tips/"]


def test_generated_secrets_start_production_and_differ_each_time():
    first, second = (dict(line.split("=", 1) for line in secret_lines() if not line.startswith("#")) for _ in "ab")
    assert set(first) == {"SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "LITELLM_MASTER_KEY", "METRICS_TOKEN"}
    assert all(first[name] != second[name] for name in first)
    env = {**PRODUCTION, **first}
    result = run_python(
        "from django.core.management import execute_from_command_line;"
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        **env,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_secrets_command_runs_before_any_secret_exists():
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION} | {"DEBUG": "0"}
    result = subprocess.run(
        [os.sys.executable, "-m", "tipengine.generate_secrets"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^TOKEN_ENCRYPTION_KEYS=[A-Za-z0-9_-]{43}=$", result.stdout, re.MULTILINE)


def test_a_missing_secret_names_the_command_that_makes_one():
    env = {k: v for k, v in PRODUCTION.items() if k != "TOKEN_ENCRYPTION_KEYS"}
    result = run_python("import django; django.setup()", **env)
    assert "python -m tipengine.generate_secrets" in result.stderr.strip().splitlines()[-1]
