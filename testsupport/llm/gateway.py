"""Test support: a fake Ollama per test class, with the real in-process router pointed at it."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.test import override_settings

from generation import gateway, structured
from generation.breaker import gateway_breaker
from testsupport.cases import MixinBase
from testsupport.llm.fake_ollama import FakeOllama


class FakeGatewayMixin(MixinBase):
    """Mix into a Django test case: `self.fake` is a running FakeOllama behind the real litellm Router.

    The breaker and the cache start clean for every test; gateway timeouts are short so failure tests
    stay fast. Subclasses may set `gateway_settings` to override more settings for the class.
    """

    fake: FakeOllama
    gateway_settings: dict[str, Any] = {}
    _gateway_override: override_settings

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.fake = FakeOllama().start()
        cls.addClassCleanup(cls.fake.stop)
        # Changing OLLAMA_URL/LITELLM_URL rebuilds the router (generation.apps connects setting_changed).
        overrides = {"OLLAMA_URL": cls.fake.url, "LITELLM_URL": "", "GENERATION_TIMEOUT_S": 3.0}
        cls._gateway_override = override_settings(**{**overrides, **cls.gateway_settings})
        cls._gateway_override.enable()
        cls.addClassCleanup(cls._gateway_override.disable)
        # Import litellm and build the router now, so a test's small timeouts measure the call, not the import.
        gateway.get_router()

    def setUp(self) -> None:
        super().setUp()
        cache.clear()  # breaker state and refresh locks from earlier tests
        gateway_breaker().reset()
        structured.reset()  # a downgrade to JSON mode seen by an earlier test
        self.fake.reset()
