"""Memory of the production stack: docker-compose.yml's app services, run as written, once they have settled.

    .venv/bin/python bench/stack_memory.py --out var/bench/stack_memory.json

Each service that compose runs from our image (web, worker, worker-llm, beat; not the one-shot migrate) is
started with its compose command in production mode as .ci/prod_smoke.sh sets it up (.env.example with fresh
secrets, DEBUG=0, local PostgreSQL and Redis, gunicorn on a free loopback port; GUNICORN_WORKERS only when
--web-workers says so, else gunicorn.conf.py's default). When every service's memory has stopped growing (the
llm queue's worker imports litellm after it starts), each one's processes are summed: RSS (what `ps` and
`docker stats` show; pages shared between a parent and its forks are counted once per process) and PSS (shared
pages split between the processes that share them: what the stack really costs). Everything is stopped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.slow_bodies import answers, production_env, start, stop  # noqa: E402
from testsupport.faults import free_port, wait_until  # noqa: E402


def compose_commands() -> dict[str, str]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {name: s["command"] for name, s in services.items() if "build" in s and name != "migrate"}


def group_memory_kb(pgid: int) -> dict[str, int]:
    """Processes, RSS and PSS (kB) of every process in the process group `pgid`."""
    total = {"processes": 0, "rss_kb": 0, "pss_kb": 0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            rollup = (entry / "smaps_rollup").read_text()
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:] if line.endswith("kB")}
        total["processes"] += 1
        total["rss_kb"] += fields["Rss"]
        total["pss_kb"] += fields["Pss"]
    return total


def settled(processes: dict[str, subprocess.Popen], *, samples: int = 3, every_s: float = 3.0) -> dict[str, dict]:
    """Sample until the PSS of every service has grown by under 1 % over `samples` samples; return the last."""
    history: list[dict[str, dict]] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        for name, process in processes.items():
            assert process.poll() is None, f"{name} exited"
        history.append({name: group_memory_kb(process.pid) for name, process in processes.items()})
        if len(history) >= samples:
            first, last = history[-samples], history[-1]
            if all(last[n]["pss_kb"] <= first[n]["pss_kb"] * 1.01 for n in processes):
                return last
        time.sleep(every_s)  # a sampling period, not synchronisation
    raise AssertionError("the stack's memory did not settle within 180 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web-workers", type=int, help="GUNICORN_WORKERS (default: gunicorn.conf.py's own)")
    parser.add_argument("--out", type=Path, help="also write the result here as JSON")
    args = parser.parse_args()

    port = free_port()
    env = production_env(gunicorn_port=port, workers=args.web_workers or 0)
    if not args.web_workers:
        env.pop("GUNICORN_WORKERS")
    logs = Path(env["STATIC_ROOT"])
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in compose_commands().items():
            schedule = f" --schedule {logs / 'beat-schedule'}" if " beat" in command else ""
            processes[name] = start(
                ["bash", "-c", f"exec {command.replace(' --schedule /tmp/celerybeat-schedule', '')}{schedule}"],
                env=env,
                log=logs / f"{name}.log",
            )
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout_s=120, what="gunicorn")
        memory = settled(processes)
    finally:
        for process in processes.values():
            stop(process)
        shutil.rmtree(logs, ignore_errors=True)
    result = {
        "services": {
            name: {**m, "rss_mb": m["rss_kb"] // 1024, "pss_mb": m["pss_kb"] // 1024} for name, m in memory.items()
        },
        "total_rss_mb": sum(m["rss_kb"] for m in memory.values()) // 1024,
        "total_pss_mb": sum(m["pss_kb"] for m in memory.values()) // 1024,
    }
    for name, m in result["services"].items():
        print(f"{name:12} {m['processes']:3} processes  RSS {m['rss_mb']:6} MB  PSS {m['pss_mb']:6} MB")
    print(f"{'total':12}                RSS {result['total_rss_mb']:6} MB  PSS {result['total_pss_mb']:6} MB")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
