"""The compose file and the image as shipped: what CI can check without a Docker engine."""

import io
import re
import subprocess
import sys
from pathlib import Path

import yaml
from dotenv import dotenv_values

from tipengine.generate_secrets import secret_lines
from tipengine.tests.test_settings import ROOT, run_python

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
# Services run from our image (they have `build`), other than the one-shot that migrates.
APP_SERVICES = sorted(name for name, service in SERVICES.items() if "build" in service and name != "migrate")


def pins(lock: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / lock).read_text(), re.MULTILINE))


def test_the_compose_file_is_valid_against_the_compose_spec_schema():
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", ROOT / "docker-compose.yml"], capture_output=True
    )
    assert result.returncode == 0, result.stdout.decode()


def test_the_app_starts_only_after_the_migrations_finished():
    assert {"web", "worker", "beat"} <= set(APP_SERVICES)
    for name in APP_SERVICES:
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert SERVICES["migrate"]["restart"] == "no"


def test_every_dependency_exists_and_a_healthy_one_has_a_healthcheck():
    for name, service in SERVICES.items():
        for target, how in service.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} depends on a missing service {target}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{name} waits for {target}, which has no healthcheck"


def test_the_app_waits_for_the_gateway_only_where_the_ai_profile_runs_it():
    assert SERVICES["litellm"]["profiles"] == ["ai"]
    assert "healthcheck" in SERVICES["litellm"]
    for name in APP_SERVICES:
        assert SERVICES[name]["depends_on"]["litellm"] == {"condition": "service_healthy", "required": False}


def test_every_image_is_pinned():
    for name, service in SERVICES.items():
        if "image" in service:
            assert re.search(r":[\w.-]*\d+\.\d+[\w.-]*$", service["image"]), f"{name}: {service['image']} is not pinned"
    assert re.search(r"^FROM python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}$", (ROOT / "Dockerfile").read_text(), re.M)


def test_the_one_shot_pull_fetches_the_models_the_alias_file_names():
    aliases = yaml.safe_load((ROOT / "infra/litellm/litellm_config.yaml").read_text())["model_list"]
    named = {
        m["litellm_params"]["model"].split("/", 1)[1]
        for m in aliases
        if m["litellm_params"]["model"].startswith("ollama")
    }
    pulled = set(re.findall(r"ollama pull (\S+)", " ".join(SERVICES["ollama-pull"]["command"])))
    assert pulled == named
    assert SERVICES["ollama-pull"]["image"] == SERVICES["ollama"]["image"]


def test_only_the_proxy_in_front_publishes_a_port():
    published = sorted(name for name, service in SERVICES.items() if service.get("ports"))
    assert published == ["caddy"]


def compose_env(*extra_lines: str) -> dict[str, str]:
    """The environment a compose app container gets: .env.example plus fresh secrets, then `environment:`."""
    text = (ROOT / ".env.example").read_text() + "\n".join([*secret_lines(), *extra_lines]) + "\n"
    values = {k: v or "" for k, v in dotenv_values(stream=io.StringIO(text)).items()}
    return {**values, **SERVICES["web"]["environment"]}


READINESS = (
    "import django; django.setup(); from tipengine.health import readiness_checks; print(sorted(readiness_checks()))"
)


def test_the_example_env_starts_the_core_profile_without_a_gateway():
    result = run_python(READINESS, **compose_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['broker',", "'cache',", "'database']"]


def test_the_example_env_with_its_ai_lines_uncommented_checks_the_gateway():
    env = compose_env("COMPOSE_PROFILES=ai", "LITELLM_URL=http://litellm:4000")
    result = run_python(READINESS, **env)
    assert result.returncode == 0, result.stderr
    assert "'gateway'" in result.stdout
    assert env["LITELLM_MASTER_KEY"].startswith("sk-")


def test_the_image_installs_runtime_dependencies_only_at_the_dev_locks_pins():
    runtime, dev = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert runtime.items() <= dev.items()
    assert not {"pytest", "ruff", "pytest-django", "check-jsonschema"} & set(runtime)
    assert "-r requirements-runtime.lock" in (ROOT / "Dockerfile").read_text()


def test_the_build_context_leaves_out_the_virtualenv_databases_secrets_and_history():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", ".env", ".git"} <= ignored
