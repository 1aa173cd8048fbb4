"""Background work runs inline in tests, on a thread in the embedded run, never in the caller's way."""

import threading

from django.test import SimpleTestCase, override_settings

from tipengine.background import enqueue
from tipengine.celery import app

done: dict[str, threading.Event] = {}
seen_threads: dict[str, str] = {}


@app.task(name="tipengine.tests.record_run")
def record_run(key: str) -> None:
    seen_threads[key] = threading.current_thread().name
    done.setdefault(key, threading.Event()).set()


class EnqueueTestCase(SimpleTestCase):
    def test_it_runs_inline_when_tasks_are_inline(self):
        with override_settings(TASKS_MODE="inline"):
            enqueue(record_run, "inline")
        self.assertEqual(seen_threads["inline"], threading.current_thread().name)

    def test_it_runs_on_another_thread_in_the_embedded_run(self):
        done["thread"] = threading.Event()
        with override_settings(TASKS_MODE="thread"):
            enqueue(record_run, "thread")
        self.assertTrue(done["thread"].wait(timeout=10))
        self.assertNotEqual(seen_threads["thread"], threading.current_thread().name)
