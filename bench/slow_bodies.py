"""Slow request bodies through the shipped Caddyfile: do liveness probes still answer while slow clients trickle?

    .venv/bin/python bench/slow_bodies.py --out var/bench/slow_bodies.json

gunicorn runs with the shipped gunicorn.conf.py in production mode, as .ci/prod_smoke.sh sets it up
(.env.example with fresh secrets, DEBUG=0, local PostgreSQL and Redis; 4 workers x 2 threads unless --workers),
on a free loopback port. `caddy run` serves the shipped infra/caddy/Caddyfile in front of it (SITE_ADDRESS
localhost: HTTPS from Caddy's local CA, its state in a temporary folder; ports from CADDY_HTTP_PORT,
CADDY_HTTPS_PORT, CADDY_ADMIN_PORT). Then --slow connections each send a POST's headers with Content-Length
--length to the Todoist webhook (unauthenticated by design: it reads its body before anything else) and one
body byte every --byte-every s, while a probe calls GET /healthz through Caddy every --interval s for --seconds
s (each with a 15 s timeout). Printed: probe latencies (max, p50, how many timed out) and how long each slow
connection was held open, with how it ended (the status Caddy answered, closed without one, or still open at
the end). Everything is on loopback, bounded in time, and stopped by the script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.caddy import CaddyProxy  # noqa: E402
from testsupport.faults import free_port, wait_until  # noqa: E402

WEBHOOK = "/api/v1/integrations/todoist/webhook/"
PROBE_TIMEOUT_S = 15.0


def production_env(*, gunicorn_port: int, workers: int) -> dict[str, str]:
    """.env.example with fresh secrets, exported by bash exactly as .ci/prod_smoke.sh does, plus local services."""
    script = 'set -a; . ./.env.example; eval "$(.venv/bin/python -m tipengine.generate_secrets)"; env -0'
    out = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}
    )
    env = dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    env.update(
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
        ALLOWED_HOSTS="localhost",
        CSRF_TRUSTED_ORIGINS="https://localhost",
        STATIC_ROOT=tempfile.mkdtemp(prefix="slow-bodies-static-"),
        GUNICORN_BIND=f"127.0.0.1:{gunicorn_port}",
        GUNICORN_WORKERS=str(workers),
        PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    )
    return env


@dataclass
class SlowConnection:
    opened: float
    held_s: float = 0.0
    ended: str = "open at the end"


@dataclass
class Run:
    probes: list[float | None] = field(default_factory=list)  # seconds, or None for a timeout/failure
    slow: list[SlowConnection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def tls_socket(port: int) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # Caddy's local CA, made for this run
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")


def slow_client(port: int, *, length: int, byte_every_s: float, until: float, run: Run) -> None:
    """Send the headers at once, then one body byte every `byte_every_s` until answered, closed or `until`."""
    record = SlowConnection(opened=time.monotonic())
    with run.lock:
        run.slow.append(record)
    try:
        sock = tls_socket(port)
    except OSError as exc:
        record.ended = f"connect failed: {exc.__class__.__name__}"
        return
    head = (
        f"POST {WEBHOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"X-Todoist-Delivery-ID: slow\r\nContent-Length: {length}\r\n\r\n"
    )
    try:
        sock.sendall(head.encode())
        while time.monotonic() < until:
            sock.settimeout(max(0.01, min(byte_every_s, until - time.monotonic())))
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                sock.sendall(b" ")
                continue
            record.ended = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed without an answer"
            break
    except OSError as exc:
        record.ended = f"closed by the proxy ({exc.__class__.__name__})"
    finally:
        record.held_s = time.monotonic() - record.opened
        sock.close()


def probe(base: str, run: Run) -> None:
    started = time.monotonic()
    try:
        response = httpx.get(
            f"{base}/healthz", timeout=PROBE_TIMEOUT_S, verify=False
        )  # Caddy's local CA, made for this run
        latency: float | None = time.monotonic() - started if response.status_code == 200 else None
    except httpx.HTTPError:
        latency = None
    with run.lock:
        run.probes.append(latency)


def attack(https_port: int, args: argparse.Namespace) -> Run:
    run = Run()
    until = time.monotonic() + args.seconds
    threads = [
        threading.Thread(
            target=slow_client,
            args=(https_port,),
            kwargs={"length": args.length, "byte_every_s": args.byte_every, "until": until, "run": run},
        )
        for _ in range(args.slow)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the slow clients are connected and have sent their headers before the first probe
    base = f"https://localhost:{https_port}"
    probes = []
    while time.monotonic() < until:
        thread = threading.Thread(target=probe, args=(base, run))
        thread.start()
        probes.append(thread)
        time.sleep(args.interval)
    for thread in [*threads, *probes]:
        thread.join()
    return run


def summary(run: Run) -> dict[str, object]:
    answered = sorted(p for p in run.probes if p is not None)
    held = sorted(c.held_s for c in run.slow)
    endings: dict[str, int] = {}
    for connection in run.slow:
        endings[connection.ended] = endings.get(connection.ended, 0) + 1
    return {
        "probes": len(run.probes),
        "probes_failed_or_timed_out": len(run.probes) - len(answered),
        "probe_max_s": round(max(answered), 3) if answered else None,
        "probe_p50_s": round(statistics.median(answered), 3) if answered else None,
        "slow_connections": len(run.slow),
        "slow_held_max_s": round(held[-1], 1) if held else None,
        "slow_held_p50_s": round(statistics.median(held), 1) if held else None,
        "slow_endings": endings,
    }


def start(command: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1, verify=False).status_code == 200  # Caddy's local CA, made for this run
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=16, help="slow-body connections")
    parser.add_argument("--length", type=int, default=100_000, help="Content-Length the slow clients announce")
    parser.add_argument("--byte-every", type=float, default=5.0, help="seconds between two body bytes")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the probes run")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between two probes")
    parser.add_argument("--workers", type=int, default=4, help="GUNICORN_WORKERS (2 threads each, the shipped default)")
    parser.add_argument("--caddy", default=shutil.which("caddy") or "caddy", help="the caddy binary")
    parser.add_argument("--out", type=Path, help="also write the summary here as JSON")
    args = parser.parse_args()

    gunicorn_port = free_port()
    env = production_env(gunicorn_port=gunicorn_port, workers=args.workers)
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env={**env, "DEBUG": "1"}, check=False
    )
    assert collect.returncode == 0, "collectstatic failed"
    log = Path(env["STATIC_ROOT"]) / "gunicorn.log"
    web = start([str(ROOT / ".venv" / "bin" / "gunicorn"), "tipengine.wsgi"], env=env, log=log)
    caddy = CaddyProxy(upstream=f"127.0.0.1:{gunicorn_port}", site="localhost", binary=args.caddy)
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{gunicorn_port}/healthz"), timeout_s=120, what="gunicorn")
        caddy.start(ready=lambda: answers(f"https://localhost:{caddy.https_port}/healthz"))
        attacked = attack(caddy.https_port, args)
        version = subprocess.run([caddy.binary, "version"], capture_output=True, text=True).stdout.split()[0]
        result = {"caddy": version, "workers": args.workers, **summary(attacked)}
    finally:
        caddy.stop()
        stop(web)
        shutil.rmtree(env["STATIC_ROOT"], ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
