"""A controllable fake Ollama (and OpenAI-compatible gateway) served over HTTP on loopback.

Tests and benchmarks point ``OLLAMA_URL`` (or ``LITELLM_URL``) at it and drive the real litellm
code. Each chat request consumes the next scripted ``Reply``; when the script is empty the default
reply is used. Every request is recorded so tests can count attempts and read prompts.
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from testsupport.loopback import LoopbackServer, QuietHandler

# What the model "is" on the Ollama side; litellm reports it back as the concrete model.
DEFAULT_OPENAI_MODEL = "ollama_chat/qwen2.5:7b"
EMBEDDING_DIM = 8


@dataclass(frozen=True)
class Reply:
    """One scripted answer to a chat request."""

    status: int = 200
    content: str = ""
    error: str = "fake model error"
    delay_s: float = 0.0
    model: str | None = None  # overrides the model name the fake reports

    @classmethod
    def text(cls, content: str, *, model: str | None = None) -> Reply:
        return cls(content=content, model=model)

    @classmethod
    def failure(cls, status: int, error: str = "fake model error") -> Reply:
        return cls(status=status, error=error)

    @classmethod
    def slow(cls, delay_s: float, content: str = '{"tips": []}') -> Reply:
        return cls(content=content, delay_s=delay_s)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    @property
    def last_user_message(self) -> str:
        users = [m.get("content", "") for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""


# --- content helpers: what a model might say --------------------------------------------------


def tips_json(tips: list[dict[str, Any]]) -> str:
    """The wire format the prompt asks for."""
    return json.dumps({"tips": tips})


def tip(kind: str = "do_now", task_ids: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
    """One well-formed tip in wire format."""
    data = {
        "kind": kind,
        "title": f"A {kind} tip",
        "body": "Open the task and spend ten focused minutes on it.",
        "rationale": "It is the most urgent thing on the list.",
        "task_ids": list(task_ids),
    }
    data.update(overrides)
    return data


def fenced(text: str, opener: str = "```json", closer: str | None = None) -> str:
    closer = closer if closer is not None else opener[:3]
    return f"{opener}\n{text}\n{closer}"


def prose_wrapped(text: str) -> str:
    return f"Sure! Here are some tips for you:\n\n{text}\n\nLet me know if you need anything else."


# --- the server -----------------------------------------------------------------------------


class FakeOllama(LoopbackServer):
    """A real HTTP server on 127.0.0.1 with an ephemeral port. Use as a context manager."""

    thread_name = "fake-ollama"

    def __init__(
        self,
        *,
        default: Reply | None = None,
        master_key: str | None = None,
        openai_model: str = DEFAULT_OPENAI_MODEL,
        reject_json_schema: bool = False,
    ) -> None:
        super().__init__()
        self.default = default or Reply.text(tips_json([tip()]))
        self.master_key = master_key  # when set, the OpenAI-compatible endpoint demands it
        self.openai_model = openai_model
        # As llama.cpp's OpenAI-compatible server does: HTTP 500 to `response_format: {"type": "json_schema"}`
        # (and, on the Ollama API, to a schema in `format`), while JSON mode (with or without a schema) works.
        self.reject_json_schema = reject_json_schema
        self._script: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    # control
    def script(self, *replies: Reply) -> None:
        """Queue replies for the next chat requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat") or r.path.endswith("/completions")]

    # used by the handler
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default


def unused_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _make_handler(fake: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self._read_and_record()
            if self.path in ("/", "/api/version"):
                self._send(200, {"version": "0.0.0-fake"})
            elif self.path == "/api/tags":
                self._send(200, {"models": []})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self._read_and_record()
            path = self.path.split("?", 1)[0]
            if path == "/api/chat":
                self._ollama_chat(body)
            elif path in ("/v1/chat/completions", "/chat/completions"):
                self._openai_chat(body)
            elif path == "/api/embed":
                inputs = body.get("input") or []
                inputs = [inputs] if isinstance(inputs, str) else inputs
                vectors = [_embedding(str(text)) for text in inputs]
                self._send(200, {"model": body.get("model"), "embeddings": vectors, "prompt_eval_count": 4})
            elif path == "/api/show":
                self._send(404, {"error": "model not found"})
            else:
                self._send(404, {"error": f"no route {path}"})

        def _ollama_chat(self, body: dict[str, Any]) -> None:
            if fake.reject_json_schema and isinstance(body.get("format"), dict):
                self._send(500, {"error": "unsupported format"})
                return
            reply = fake._next_reply()
            fake.pause(reply.delay_s)
            if reply.status != 200:
                self._send(reply.status, {"error": reply.error})
                return
            self._send(
                200,
                {
                    "model": reply.model or body.get("model"),
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "message": {"role": "assistant", "content": reply.content},
                    "done": True,
                    "done_reason": "stop",
                    "prompt_eval_count": 12,
                    "eval_count": 7,
                },
            )

        def _openai_chat(self, body: dict[str, Any]) -> None:
            if fake.master_key and self.headers.get("Authorization") != f"Bearer {fake.master_key}":
                self._send(401, _openai_error(401, "Authentication Error, invalid or missing key"))
                return
            if fake.reject_json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
                self._send(500, _openai_error(500, "Internal Server Error"))
                return
            reply = fake._next_reply()
            fake.pause(reply.delay_s)
            if reply.status != 200:
                self._send(reply.status, _openai_error(reply.status, reply.error))
                return
            self._send(
                200,
                {
                    "id": f"chatcmpl-fake-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": reply.model or fake.openai_model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
                },
            )

        def _read_and_record(self) -> Any:
            raw = self.read_body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake._record(RecordedRequest(self.command, self.path, headers, body))
            return body if isinstance(body, dict) else {}

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            self.send(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    return Handler


def _openai_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "fake_error", "param": None, "code": str(status)}}


def _embedding(text: str) -> list[float]:
    """Deterministic, cheap vector so embedding callers get stable answers."""
    seed = sum(map(ord, text)) or 1
    return [((seed * (i + 7)) % 97) / 97.0 for i in range(EMBEDDING_DIM)]
