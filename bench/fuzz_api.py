"""Fuzz the API with schemathesis over its own OpenAPI schema, every check on; exit 1 on any failure.

    .venv/bin/python bench/fuzz_api.py --max-examples 30 --out var/bench/fuzz.json

Runs on private servers made for the run (testsupport/faults.py): a PostgreSQL cluster, gunicorn
(DEBUG off), a fake Todoist that knows alice's token and tasks. alice is connected to Todoist and has a few
served tips; schemathesis calls every operation as alice (`Authorization: Token ...`) with generated valid and
invalid input and checks each answer against the schema: no 5xx, documented status codes, content types,
headers and response bodies, invalid input rejected, valid input accepted. Reported: operations, test cases,
failures. `.ci/run` runs it; keep --max-examples small there (the run takes a couple of minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.faults import (  # noqa: E402
    PrivatePostgres,
    PrivateRedis,
    WebServer,
    manage,
    migrated_with_users,
    production_env,
)
from testsupport.todoist.fake_todoist import FakeTodoist, fake_due  # noqa: E402

TODOIST_TOKEN = "tok-alice-fuzz"

SETUP_ALICE = f"""
from django.contrib.auth import get_user_model
from integrations.services.tokens import integration_connect_token
from recommender.services.serving import tips_serve
alice = get_user_model().objects.get(username="alice")
integration_connect_token(user=alice, token="{TODOIST_TOKEN}")
for _ in range(3):
    tips_serve(user=alice, limit=3)
"""


def run(args: argparse.Namespace) -> dict:
    postgres = PrivatePostgres().init()
    redis = PrivateRedis().start()  # production settings refuse to start without REDIS_URL
    server = None
    try:
        with FakeTodoist() as todoist:
            todoist.add_account(TODOIST_TOKEN, user_id="4242")
            for i in range(5):
                todoist.add_task(TODOIST_TOKEN, content=f"Task {i}", priority=1 + i % 4, due=fake_due("2026-12-01"))
            postgres.create_database("tipengine")
            env = production_env(
                postgres,
                redis,
                OLLAMA_URL="http://127.0.0.1:9",  # nothing listens: tips come from rules, degraded
                TODOIST_API_URL=todoist.api_url,
                TODOIST_OAUTH_URL=todoist.oauth_url,
                TODOIST_CLIENT_ID="fake-client-id",
                TODOIST_CLIENT_SECRET="fake-client-secret",
                LOG_LEVEL="ERROR",
                # Fuzzing is many calls by one user: the throttles would answer most of them 429.
                THROTTLE_TIPS_RATE="1000000/min",
                THROTTLE_FEEDBACK_RATE="1000000/min",
                THROTTLE_HISTORY_RATE="1000000/min",
                TODOIST_CONNECT_RATE="1000000/min",
            )
            tokens = migrated_with_users(env, ["alice"])
            manage(env, "shell", "-c", SETUP_ALICE)
            server = WebServer(env=env, workers=2).start()
            report = Path(postgres.dir) / "report.json"
            command = [
                str(ROOT / ".venv/bin/schemathesis"),
                "--config-file",
                str(ROOT / "bench" / "schemathesis.toml"),
                "run",
                f"{server.url}/api/schema/?format=json",
                "--checks",
                "all",
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--header",
                f"Authorization: Token {tokens['alice']}",
                "--request-timeout",
                "20",
                "--workers",
                "1",
                "--no-color",
                "--report",
                "json",
                "--report-json-path",
                str(report),
                "--suppress-health-check",
                "all",
            ]
            started = time.monotonic()
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
            seconds = time.monotonic() - started
            print(result.stdout[-20000:])
            print(result.stderr[-5000:], file=sys.stderr)
            summary = _summary(result.stdout)
            summary.update(exit_code=result.returncode, seconds=round(seconds, 1), max_examples=args.max_examples)
            return summary
    finally:
        if server is not None:
            server.stop()
        postgres.destroy()
        redis.stop()


def _summary(stdout: str) -> dict:
    """Operations, test cases and failures, as schemathesis' own summary states them."""

    def number(pattern: str) -> int | None:
        match = re.search(pattern, stdout)
        return int(match.group(1).replace(",", "")) if match else None

    return {
        "operations": number(r"Operations:\s+([\d,]+) selected"),
        "test_cases": number(r"Test cases:\s+([\d,]+) generated"),
        "failures": number(r"([\d,]+) unique failures?") or 0,
        "summary": [line.strip("= ") for line in stdout.splitlines() if line.startswith("=")][-1:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    summary = run(args)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    sys.exit(0 if summary["exit_code"] == 0 else 1)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    main()
