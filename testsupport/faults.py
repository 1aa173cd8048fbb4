"""Test support: private Redis, PostgreSQL and Celery worker processes that a test kills, freezes and restarts.

Never the shared servers: each one runs on its own free loopback port with its data under a temporary folder,
and is stopped when the test ends (the pytest fixtures at the bottom).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], *, timeout_s: float, what: str) -> object:
    """Poll `condition` until it returns something truthy; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def stop_process_group(process: subprocess.Popen, *, timeout_s: float = 30) -> None:
    """SIGTERM the process's whole group (servers fork workers), SIGKILL it if it has not exited in `timeout_s`."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class PrivateRedis:
    """A redis-server of our own: kill it, freeze it (SIGSTOP), thaw it, restart it on the same port."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> PrivateRedis:
        import redis

        args = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=0.2, socket_timeout=0.2)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(answers, timeout_s=10, what=f"redis-server on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL: the server is gone, with everything it held (a cache loses nothing it must keep)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel but nothing answers (a hung host)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.thaw()
        self.kill()


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb), stopped and started by the test.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user (runuser).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tipengine-fault-pg-"))
        self.data = self.dir / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.dir, user=self.user)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [*(["runuser", "-u", self.user, "--"] if self.user else []), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        return self.start()

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are cut, as in a failover or a restart)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class CeleryWorker:
    """A real `celery worker` process (its own process group, so SIGKILL takes the pool with it)."""

    def __init__(self, *, env: dict[str, str], queues: str = "celery", include: str = "") -> None:
        self.env = {**os.environ, **env}
        self.queues = queues
        self.include = include
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="tipengine-worker-", suffix=".log")[1])

    def start(self) -> CeleryWorker:
        command = [sys.executable, "-m", "celery", "-A", "tipengine", "worker", "-Q", self.queues]
        command += ["--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        command += ["--hostname", f"fault-{os.getpid()}-{time.monotonic_ns()}@%h"]
        if self.include:
            command += ["--include", self.include]
        self.log.write_text("")
        log = self.log.open("a")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(lambda: " ready." in self.log.read_text(), timeout_s=60, what="the celery worker to be ready")
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: no chance to ack, requeue or say goodbye."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        self.kill()
        self.log.unlink(missing_ok=True)


def production_env(postgres: PrivatePostgres, redis: PrivateRedis, **overrides: str) -> dict[str, str]:
    """Settings of a production-mode process on private servers (DEBUG=0, plain HTTP on loopback, no gateway)."""
    from cryptography.fernet import Fernet

    return {
        "DEBUG": "0",
        "SECRET_KEY": "private-servers-" + "k" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": postgres.url("tipengine"),
        "REDIS_URL": redis.url(),
        "TASKS_MODE": "inline",
        "LITELLM_URL": "",
        **overrides,
    }


def manage(env: dict[str, str], *args: str) -> str:
    """Run `manage.py *args` with `env` over this environment; return its standard output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout


def migrated_with_users(env: dict[str, str], usernames: list[str]) -> dict[str, str]:
    """Migrate the database `env` names and create `usernames`; return {username: API token}."""
    manage(env, "migrate", "--noinput")
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from rest_framework.authtoken.models import Token\n"
        "for name in sys.argv[1:]:\n"
        "    user = get_user_model().objects.create_user(username=name, password='pw')\n"
        "    print('token', name, Token.objects.create(user=user).key)"
    )
    out = manage(env, "shell", "-c", f"import sys; sys.argv = ['x', {', '.join(repr(u) for u in usernames)}]\n{code}")
    return {line.split()[1]: line.split()[2] for line in out.splitlines() if line.startswith("token ")}


class WebServer:
    """gunicorn serving the project on a free loopback port (or `port`), with `env` over this environment; its
    standard error (the app's log lines) goes to `log` when given."""

    def __init__(
        self, *, env: dict[str, str], port: int | None = None, workers: int = 1, log: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": str(workers)}
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        command = [sys.executable, "-m", "gunicorn", "tipengine.wsgi", "--access-logfile", "/dev/null"]
        quiet = subprocess.DEVNULL
        with self.log.open("a") if self.log else contextlib.nullcontext(quiet) as stderr:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, start_new_session=True, stdout=quiet, stderr=stderr
            )
        wait_until(lambda: self._answers(), timeout_s=60, what=f"gunicorn on port {self.port}")
        return self

    def _answers(self) -> bool:
        import httpx

        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A private redis-server, started; stopped (and thawed) after the test."""
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster, running; destroyed after the test."""
    server = PrivatePostgres().init()
    yield server
    server.destroy()


@pytest.fixture
def celery_workers() -> Iterator[Callable[..., CeleryWorker]]:
    """Start real Celery workers with `celery_workers(env=..., queues=..., include=...)`; all killed after."""
    started: list[CeleryWorker] = []

    def start(**kwargs: object) -> CeleryWorker:
        worker = CeleryWorker(**kwargs).start()  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
