"""The fake model server itself: other apps' tests rely on its routes and its script."""

import httpx
from django.test import SimpleTestCase

from testsupport.llm.fake_ollama import FakeOllama, Reply


class FakeOllamaTests(SimpleTestCase):
    def test_it_answers_scripted_replies_in_order_then_the_default(self):
        with FakeOllama(default=Reply.text("default")) as fake:
            fake.script(Reply.text("first"), Reply.failure(503, "busy"))
            answers = [httpx.post(f"{fake.url}/api/chat", json={"model": "m", "messages": []}) for _ in range(3)]
        self.assertEqual([a.status_code for a in answers], [200, 503, 200])
        self.assertEqual(answers[0].json()["message"]["content"], "first")
        self.assertEqual(answers[1].json(), {"error": "busy"})
        self.assertEqual(answers[2].json()["message"]["content"], "default")
        self.assertEqual(answers[0].json()["done"], True)

    def test_it_records_requests_and_serves_embed_and_a_404_show(self):
        with FakeOllama() as fake:
            embed = httpx.post(f"{fake.url}/api/embed", json={"model": "e", "input": ["a", "b"]})
            show = httpx.post(f"{fake.url}/api/show", json={"model": "e"})
            recorded = fake.requests
        self.assertEqual(len(embed.json()["embeddings"]), 2)
        self.assertEqual(show.status_code, 404)
        self.assertEqual([(r.path, r.body["model"]) for r in recorded], [("/api/embed", "e"), ("/api/show", "e")])
        self.assertEqual(fake.chat_requests, [])

    def test_it_speaks_openai_with_an_optional_master_key(self):
        with FakeOllama(master_key="k", openai_model="provider/concrete") as fake:
            fake.script(Reply.text("hi"))
            denied = httpx.post(f"{fake.url}/v1/chat/completions", json={"model": "alias", "messages": []})
            ok = httpx.post(
                f"{fake.url}/chat/completions",
                json={"model": "alias", "messages": []},
                headers={"Authorization": "Bearer k"},
            )
        self.assertEqual(denied.status_code, 401)
        self.assertEqual(denied.json()["error"]["code"], "401")
        self.assertEqual(ok.json()["model"], "provider/concrete")
        self.assertEqual(ok.json()["choices"][0]["message"]["content"], "hi")

    def test_it_releases_slow_replies_when_stopped(self):
        fake = FakeOllama(default=Reply.slow(30.0)).start()
        with self.assertRaises(httpx.ReadTimeout):
            httpx.post(f"{fake.url}/api/chat", json={"messages": []}, timeout=0.2)
        fake.stop()  # returns at once: the handler thread is woken, not left sleeping 30 s
        self.assertEqual(len(fake.chat_requests), 1)
