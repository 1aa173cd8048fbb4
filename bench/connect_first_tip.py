"""From connecting Todoist to the first served LLM tip: how long a new user waits for the model's tips.

In one process: a fake Todoist (an account with a few tasks) and a model (the fake Ollama, answering after
`--model-delay-s`, or the real local model with `--local-url`), the app's API through Django's test client
and its background tasks on threads (TASKS_MODE=thread, as in `make run`). The user connects with a
personal token, then asks for tips every `--poll-s` until one comes from the LLM.

Run (the embedded defaults; REDIS_URL must be unset so background work runs on threads):
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/tipengine_bench \\
        .venv/bin/python bench/connect_first_tip.py --runs 5 --model-delay-s 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="users connecting one after another")
    parser.add_argument("--model-delay-s", type=float, default=3.0, help="the fake model's answer time")
    parser.add_argument("--local-url", help="use the real local model (make llm-local) at this /v1 URL instead")
    parser.add_argument("--poll-s", type=float, default=0.25)
    parser.add_argument("--give-up-s", type=float, default=120.0)
    args = parser.parse_args()

    from testsupport.llm.fake_ollama import FakeOllama, Reply, tip, tips_json
    from testsupport.todoist.fake_todoist import FakeTodoist

    with FakeTodoist() as todoist, FakeOllama() as model:
        model.default = Reply(content="", delay_s=args.model_delay_s)  # replaced per run (task ids)
        os.environ.update(TODOIST_API_URL=todoist.api_url, OLLAMA_URL=model.url, TASKS_MODE="thread")
        os.environ.setdefault("ALLOWED_HOSTS", "testserver")  # Django's test client
        os.environ.pop("LITELLM_URL", None)
        if args.local_url:
            os.environ.update(
                LITELLM_CONFIG_PATH=str(REPO / "infra" / "litellm" / "litellm_config.local.yaml"),
                LLM_LOCAL_URL=args.local_url,
            )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
        import django

        django.setup()
        from generation.gateway import warm_up

        warm_up()  # as runserver and workers now do at start: measure the connection, not the import
        waits = []
        for run in range(args.runs):
            token = uuid.uuid4().hex
            todoist.add_account(token, timezone="Europe/Berlin")
            first = todoist.add_task(token, content="Renew the passport", priority=4)
            todoist.add_task(token, content="Book a dentist appointment", priority=2)
            answer = tips_json([tip("do_now", [first["id"]], title="Start the passport form now")])
            model.default = Reply(content=answer, delay_s=args.model_delay_s)
            waits.append(one_connection(run, token, args))
        print(f"model: {'local ' + args.local_url if args.local_url else f'fake, {args.model_delay_s} s'}")
        print("connect -> first LLM tip, s: " + ", ".join(f"{w:.2f}" for w in waits))
        print(f"median {statistics.median(waits):.2f} s, max {max(waits):.2f} s over {len(waits)} users")


def one_connection(run: int, token: str, args: argparse.Namespace) -> float:
    from testsupport.cases import api_client, make_user

    user = make_user(f"bench-connect-{uuid.uuid4().hex[:8]}")
    client = api_client(user)
    started = time.perf_counter()
    response = client.post("/api/v1/integrations/todoist/token/", {"token": token}, format="json")
    if response.status_code not in (200, 202):
        raise SystemExit(f"connecting failed: HTTP {response.status_code}")
    polls, degraded = 0, set()
    while time.perf_counter() - started < args.give_up_s:
        polls += 1
        body = client.get("/api/v1/tips/?limit=3").json()
        if any(t.get("source") == "llm" for t in body.get("tips", [])):
            waited = time.perf_counter() - started
            print(f"user {run}: first LLM tip after {waited:.2f} s ({polls} calls; degraded: {sorted(degraded)})")
            return waited
        degraded.update(d["code"] for d in body.get("degraded", []))
        time.sleep(args.poll_s)
    raise SystemExit(f"user {run}: no LLM tip within {args.give_up_s} s (degraded: {sorted(degraded)})")


if __name__ == "__main__":
    main()
