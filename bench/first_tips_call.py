"""The first tips call after a fresh `make run`: does it wait on litellm's import, and does it get LLM tips?

Starts a fake Ollama (answering at once with a tip about a sample task), then `make run` on `--addr` with
the embedded defaults (no DATABASE_URL, REDIS_URL or LITELLM_URL; `make stop`, then `var/` removed first), waits for
/healthz, and calls GET /api/v1/tips/ as the demo user as soon as the server answers (`--delay-s` later).
Reports the server's start, the call's latency, the tips' sources and what was degraded, then asks again
every 0.5 s until a tip comes from the LLM.

    .venv/bin/python bench/first_tips_call.py --addr 127.0.0.1:8016 --runs 3
    .venv/bin/python bench/first_tips_call.py --addr 127.0.0.1:8016 --repo /path/to/an/older/checkout
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", default="127.0.0.1:8016")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delay-s", type=float, default=0.0, help="wait this long after /healthz answers")
    parser.add_argument("--repo", default=str(REPO), help="the checkout whose `make run` to measure")
    args = parser.parse_args()

    from testsupport.llm.fake_ollama import FakeOllama, Reply, tip, tips_json

    answer = tips_json([tip("do_now", ["sample-01"], title="First LLM tip")])
    with FakeOllama(default=Reply.text(answer)) as model:
        results = [one_run(args, model.url) for _ in range(args.runs)]
    for number, result in enumerate(results):
        print(f"run {number}: " + json.dumps(result))


def one_run(args: argparse.Namespace, ollama_url: str) -> dict[str, object]:
    repo = Path(args.repo)
    _stop_embedded_db(repo)  # `make run` leaves its embedded PostgreSQL running: stop it before removing its data
    shutil.rmtree(repo / "var", ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "LITELLM_URL")}
    env.update(OLLAMA_URL=ollama_url, PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    server = subprocess.Popen(
        ["make", "run", f"RUN_ADDR={args.addr}"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=_read, args=(server, lines, started), daemon=True)
    reader.start()
    try:
        up_s = _wait_for(f"http://{args.addr}/healthz", started)
        token = next(line.split(": ", 1)[1].strip() for _, line in lines if line.startswith("Demo API token: "))
        time.sleep(args.delay_s)
        call_started = time.perf_counter()
        request = urllib.request.Request(
            f"http://{args.addr}/api/v1/tips/?limit=3", headers={"Authorization": f"Token {token}"}
        )
        body = _get(request)
        call_ms = (time.perf_counter() - call_started) * 1000
        called_at = call_started - started
        first_llm_at, later = None, body
        while first_llm_at is None and time.perf_counter() - started < 300:
            if "llm" in {t["source"] for t in later.get("tips", [])}:
                first_llm_at = time.perf_counter() - started
            else:
                time.sleep(0.5)  # polling a condition with a deadline
                later = _get(request)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        _stop_embedded_db(repo)
    warm = [at for at, line in lines if "gateway warm: litellm ready" in line]
    seeded = [at for at, line in lines if line.startswith("Demo API token: ")]
    return {
        "demo_seeded_at_s": round(seeded[0], 1),
        "healthz_after_s": round(up_s, 1),
        "tips_called_at_s": round(called_at, 1),
        "gateway_warm_at_s": round(warm[0], 1) if warm else None,
        "first_call_ms": round(call_ms),
        "first_llm_tip_at_s": round(first_llm_at, 1) if first_llm_at is not None else None,
        "sources": [t["source"] for t in body.get("tips", [])],
        "degraded": [d["code"] for d in body.get("degraded", [])],
    }


def _stop_embedded_db(repo: Path) -> None:
    subprocess.run(["make", "stop"], cwd=repo, capture_output=True, check=False)


def _get(request: urllib.request.Request) -> dict[str, object]:
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _read(server: subprocess.Popen[str], lines: list[tuple[float, str]], started: float) -> None:
    assert server.stdout is not None
    for line in server.stdout:
        lines.append((time.perf_counter() - started, line.rstrip("\n")))


def _wait_for(url: str, started: float, timeout_s: float = 300.0) -> float:
    while time.perf_counter() - started < timeout_s:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.1)  # polling a condition with a deadline
    raise SystemExit(f"{url} did not answer within {timeout_s} s")


if __name__ == "__main__":
    main()
