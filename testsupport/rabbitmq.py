"""Test support: a RabbitMQ broker for Celery workers under test, on the RabbitMQ server running on loopback.

RabbitMQ is not started per test (an Erlang node takes seconds and hundreds of MB); instead each test gets a
queue of its own on the shared server (TIPENGINE_RABBITMQ_URL, default guest/guest on 127.0.0.1:5672), so
parallel runs never take each other's tasks, and the queue is deleted when the test ends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Queue

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672//"


def rabbitmq_url() -> str:
    return os.environ.get("TIPENGINE_RABBITMQ_URL", DEFAULT_URL)


def rabbitmq_reachable(url: str) -> bool:
    try:
        with Connection(url, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:  # any failure (refused, bad credentials, timeout) means there is no broker to test with
        return False


@dataclass(frozen=True)
class RabbitQueue:
    url: str
    name: str

    def ready_messages(self) -> int:
        """How many messages wait in the queue to be delivered (not those a consumer holds unacknowledged)."""
        with Connection(self.url, connect_timeout=2) as conn:
            channel: Any = conn.default_channel  # py-amqp's Channel: kombu's types know only StdChannel
            return channel.queue_declare(queue=self.name, passive=True).message_count


@contextmanager
def private_queue(url: str) -> Iterator[RabbitQueue]:
    """A fresh queue name on the RabbitMQ at `url` (the caller checks it is reachable), deleted afterwards."""
    queue = RabbitQueue(url=url, name=f"tipengine-test-{uuid.uuid4().hex[:12]}")
    try:
        yield queue
    finally:
        with Connection(url, connect_timeout=2) as conn:
            Queue(queue.name, channel=conn.default_channel).delete()
