"""The real LiteLLM proxy (its own virtualenv) reading our alias file in front of the fake Ollama.

Skipped when the proxy's virtualenv is not built (`make proxy-venv`); CI builds it and, with
TIPENGINE_REQUIRE_SERVICES=1, fails instead of skipping. One proxy serves the whole class (it takes
~15 s to start).
"""

from django.conf import settings
from django.test import SimpleTestCase, override_settings

from generation import gateway
from generation.testing.fake_ollama import FakeOllama, Reply
from generation.testing.litellm_proxy import LiteLLMProxy, proxy_executable
from generation.tests.test_gateway import MESSAGES, configured_model
from tipengine.testing import require_service

MASTER_KEY = "sk-proxy-test"


class RealProxyTests(SimpleTestCase):
    fake: FakeOllama
    proxy: LiteLLMProxy

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        executable = proxy_executable()
        if executable is None:
            return  # each test reports the skip (or, in CI, the failure)
        cls.fake = FakeOllama().start()
        cls.addClassCleanup(cls.fake.stop)
        cls.proxy = LiteLLMProxy(
            executable=executable,
            config_path=settings.LITELLM_CONFIG_PATH,
            master_key=MASTER_KEY,
            env={"OLLAMA_URL": cls.fake.url},
        )
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.__exit__)
        override = override_settings(LITELLM_URL=cls.proxy.url, LITELLM_MASTER_KEY=MASTER_KEY)
        override.enable()
        cls.addClassCleanup(override.disable)

    def setUp(self) -> None:
        require_service("the LiteLLM proxy", proxy_executable() is not None, "build it with `make proxy-venv`")
        self.fake.reset()

    def test_it_reports_the_concrete_model_behind_the_alias(self):
        self.fake.script(Reply.text('{"tips": []}'))
        result = gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=20)
        self.assertEqual(result.content, '{"tips": []}')
        self.assertEqual(result.model, configured_model(gateway.TIP_GENERATOR))
        [request] = self.fake.chat_requests
        self.assertEqual(request.path, "/api/chat")  # the proxy called the fake Ollama, as the alias file says

    def test_it_reports_the_concrete_embedding_model(self):
        result = gateway.embed(texts=["a", "bb"], timeout_s=20)
        self.assertEqual(len(result.vectors), 2)
        self.assertEqual(result.model, configured_model(gateway.EMBEDDER))
