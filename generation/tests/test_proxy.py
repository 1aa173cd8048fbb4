"""The real LiteLLM proxy (its own virtualenv) reading our alias file in front of the fake Ollama.

Skipped when the proxy's virtualenv is not built (`make proxy-venv`); CI builds it and, with
TIPENGINE_REQUIRE_SERVICES=1, fails instead of skipping. One proxy serves the whole class (it takes
~15 s to start).
"""

from django.conf import settings
from django.test import TestCase, override_settings

from generation import gateway
from generation.services import pool_refresh
from generation.tests.test_gateway import MESSAGES, configured_model
from integrations.services.tokens import integration_connect_sample
from recommender.models import TipScore
from testsupport.cases import ActorsMixin, require_service
from testsupport.llm.fake_ollama import FakeOllama, Reply, tip, tips_json
from testsupport.llm.litellm_proxy import LiteLLMProxy, proxy_executable

MASTER_KEY = "sk-proxy-test"


class RealProxyTests(ActorsMixin, TestCase):
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
        super().setUp()
        self.fake.reset()

    def test_it_reports_the_concrete_model_behind_the_alias(self):
        self.fake.script(Reply.text('{"tips": []}'))
        result = gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=20)
        self.assertEqual(result.content, '{"tips": []}')
        self.assertEqual(result.model, configured_model(gateway.TIP_GENERATOR))
        [request] = self.fake.chat_requests
        self.assertEqual(request.path, "/api/chat")  # the proxy called the fake Ollama, as the alias file says

    def test_served_tips_log_the_concrete_model_in_tip_scores(self):
        integration_connect_sample(user=self.alice)  # the sample tasks: sample-01 .. sample-14
        self.fake.script(Reply.text(tips_json([tip("do_now", ["sample-01"], title="Through the proxy")])))
        pool_refresh(user=self.alice, timeout_s=20)
        tips = self.api(self.alice).get("/api/v1/tips/?limit=10").json()["tips"]
        self.assertIn("Through the proxy", [t["title"] for t in tips])
        logged = TipScore.objects.get(user=self.alice, title="Through the proxy")
        self.assertEqual(logged.llm_model, configured_model(gateway.TIP_GENERATOR))
