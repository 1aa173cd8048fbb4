"""The alias client against the real litellm Router (and SDK proxy mode) talking to a fake model server."""

from django.test import SimpleTestCase, override_settings

from generation import gateway
from generation.errors import GatewayUnavailable, RateLimited, RequestRejected
from testsupport.llm.fake_ollama import FakeOllama, Reply, unused_port_url
from testsupport.llm.gateway import FakeGatewayMixin

MESSAGES = [{"role": "user", "content": "Say hi in JSON."}]


def configured_model(alias: str) -> str:
    """The concrete model the alias file names for `alias` (what the gateway should report)."""
    entry = next(e for e in gateway.load_config()["model_list"] if e["model_name"] == alias)
    return entry["litellm_params"]["model"]


class RouterModeTests(FakeGatewayMixin, SimpleTestCase):
    def test_it_returns_the_answer_and_the_concrete_model_not_the_alias(self):
        self.fake.script(Reply.text('{"hello": "world"}'))
        result = gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2)
        self.assertEqual(result.content, '{"hello": "world"}')
        self.assertEqual(result.model, configured_model(gateway.TIP_GENERATOR))
        self.assertNotEqual(result.model, gateway.TIP_GENERATOR)
        self.assertEqual((result.prompt_tokens, result.completion_tokens), (12, 7))

    def test_it_sends_the_alias_model_and_the_json_schema_to_ollama(self):
        schema_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
        gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2, response_format=schema_format)
        [request] = self.fake.chat_requests
        self.assertEqual(request.path, "/api/chat")
        self.assertEqual("ollama_chat/" + request.body["model"], configured_model(gateway.TIP_GENERATOR))
        self.assertEqual(request.body["format"], {"type": "object"})
        self.assertIs(request.body["stream"], False)

    def test_it_maps_server_errors_to_unavailable_after_exactly_one_attempt(self):
        for status in (500, 502, 503):
            with self.subTest(status=status):
                self.fake.reset()
                self.fake.script(Reply.failure(status))
                with self.assertRaises(GatewayUnavailable) as caught:
                    gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2)
                self.assertEqual(caught.exception.details["status"], status)
                self.assertEqual(len(self.fake.chat_requests), 1)  # no hidden retries

    def test_it_maps_429_to_rate_limited(self):
        self.fake.script(Reply.failure(429, "slow down"))
        with self.assertRaises(RateLimited):
            gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2)

    def test_it_maps_a_bad_request_to_rejected(self):
        self.fake.script(Reply.failure(400, "invalid options"))
        with self.assertRaises(RequestRejected):
            gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2)

    def test_it_rejects_an_alias_the_file_does_not_define(self):
        with self.assertRaises(RequestRejected):
            gateway.chat(alias="no-such-alias", messages=MESSAGES, timeout_s=2)
        self.assertEqual(self.fake.chat_requests, [])

    def test_it_gives_up_on_a_slow_model_at_the_timeout(self):
        self.fake.script(Reply.slow(5.0))
        with self.assertRaises(GatewayUnavailable) as caught:
            gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=0.3)
        self.assertEqual(caught.exception.details["reason"], "timeout")

    def test_it_maps_connection_refused_to_unavailable(self):
        with override_settings(OLLAMA_URL=unused_port_url()), self.assertRaises(GatewayUnavailable) as caught:
            gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=1)
        self.assertEqual(caught.exception.details["reason"], "connection")

    def test_it_rebuilds_the_router_when_the_model_url_changes(self):
        with FakeOllama(default=Reply.text("from the other fake")) as other, override_settings(OLLAMA_URL=other.url):
            result = gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2)
        self.assertEqual(result.content, "from the other fake")
        self.assertEqual(self.fake.chat_requests, [])


class ProxyModeTests(SimpleTestCase):
    """LITELLM_URL set: the SDK talks to the proxy. The fake stands in for the LiteLLM proxy (see docs)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeOllama(master_key="sk-test-master", openai_model="ollama_chat/fake-concrete:1b").start()
        cls.addClassCleanup(cls.fake.stop)

    def setUp(self):
        self.fake.reset()
        override = override_settings(LITELLM_URL=self.fake.url, LITELLM_MASTER_KEY="sk-test-master")
        override.enable()
        self.addCleanup(override.disable)

    def test_it_calls_the_proxy_by_alias_with_the_master_key(self):
        self.fake.script(Reply.text('{"tips": []}'))
        result = gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2)
        [request] = self.fake.chat_requests
        self.assertEqual(request.body["model"], gateway.TIP_GENERATOR)
        self.assertEqual(request.headers["authorization"], "Bearer sk-test-master")
        self.assertEqual(result.content, '{"tips": []}')
        self.assertEqual(result.model, "ollama_chat/fake-concrete:1b")  # as the proxy reported it

    def test_it_maps_proxy_errors_like_router_errors(self):
        cases = [(503, GatewayUnavailable), (502, GatewayUnavailable), (429, RateLimited), (400, RequestRejected)]
        for status, error in cases:
            with self.subTest(status=status):
                self.fake.reset()
                self.fake.script(Reply.failure(status))
                with self.assertRaises(error):
                    gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2)
                self.assertEqual(len(self.fake.chat_requests), 1)

    def test_it_reports_a_wrong_master_key_as_rejected(self):
        with override_settings(LITELLM_MASTER_KEY="sk-wrong"), self.assertRaises(RequestRejected) as caught:
            gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=2)
        self.assertEqual(caught.exception.details["status"], 401)

    def test_it_times_out_on_a_slow_proxy(self):
        self.fake.script(Reply.slow(5.0))
        with self.assertRaises(GatewayUnavailable):
            gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=0.3)

    def test_it_maps_an_unreachable_proxy_to_unavailable(self):
        with override_settings(LITELLM_URL=unused_port_url()), self.assertRaises(GatewayUnavailable):
            gateway.chat(alias=gateway.TIP_GENERATOR, messages=MESSAGES, timeout_s=1)
