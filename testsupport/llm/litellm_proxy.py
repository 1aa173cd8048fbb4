"""The real LiteLLM proxy as a test peer: a subprocess from its own virtualenv (`make proxy-venv`) on loopback.

It reads the project's alias file, so a test exercises the production configuration in front of a fake model
server. The proxy is not importable from the app's environment (its extras do not install beside litellm
1.110.2), hence a separate virtualenv, found at LITELLM_PROXY_VENV or the Makefile's default location.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import httpx

from testsupport.faults import stop_process_group

DEFAULT_VENV = Path.home() / ".cache" / "tipengine" / "litellm-proxy"  # the Makefile's default too
# The proxy's first start here took 13 s on an idle machine; a loaded CI box may need several times that.
STARTUP_TIMEOUT_S = 180.0
# Only what the proxy needs: an inherited DATABASE_URL would make it try to run its own database migrations.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")


def proxy_executable() -> Path | None:
    """The proxy's `litellm` command when its virtualenv is built, else None."""
    venv = Path(os.environ.get("LITELLM_PROXY_VENV") or DEFAULT_VENV)
    executable = venv / "bin" / "litellm"
    return executable if os.access(executable, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiteLLMProxy:
    """`litellm --config <alias file>` on 127.0.0.1 with `env` (e.g. OLLAMA_URL); a context manager."""

    def __init__(self, *, executable: Path, config_path: str | Path, master_key: str, env: dict[str, str]) -> None:
        self.executable = executable
        self.config_path = str(config_path)
        self.master_key = master_key
        self.env = env
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="litellm-proxy-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start the proxy and return once it answers its liveness probe (or raise with its log's tail)."""
        self.port = _free_port()
        env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": self.master_key, **self.env})
        command = [str(self.executable), "--config", self.config_path, "--host", "127.0.0.1", "--port", str(self.port)]
        self._process = subprocess.Popen(  # our own fixed command line
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the LiteLLM proxy exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # polling a condition with a deadline, not synchronising on time
        self.stop()
        raise RuntimeError(f"the LiteLLM proxy did not come up in {STARTUP_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the proxy's whole process group (uvicorn may fork workers)."""
        process, self._process = self._process, None
        if process is not None:
            stop_process_group(process, timeout_s=15)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = Path(self._log.name).read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        Path(self._log.name).unlink(missing_ok=True)
