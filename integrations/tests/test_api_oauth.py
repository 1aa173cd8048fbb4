"""OAuth: authorize/ gives a signed, single-use, short-lived state bound to the user; callback/ checks it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.test import override_settings
from django.urls import reverse

from integrations.models import Integration
from integrations.tests.support import TodoistTestCase

AUTHORIZE_URL = reverse("integrations:todoist-authorize")
CALLBACK_URL = reverse("integrations:todoist-callback")


class OAuthTests(TodoistTestCase):
    def state_for(self, user) -> str:
        response = self.api(user).get(AUTHORIZE_URL)
        self.assertEqual(response.status_code, 200, response.content)
        return parse_qs(urlsplit(response.json()["authorize_url"]).query)["state"][0]

    def callback(self, user, **params):
        return self.api(user).get(CALLBACK_URL, params)

    def assert_error(self, response, status: int, code: str) -> None:
        self.assertEqual(response.status_code, status, response.content)
        self.assertEqual(response.json()["error"]["code"], code)

    def test_it_sends_the_user_to_todoist_with_our_client_id_scope_and_state(self):
        body = self.api(self.alice).get(AUTHORIZE_URL).json()
        url = urlsplit(body["authorize_url"])
        self.assertEqual(f"{url.scheme}://{url.netloc}{url.path}", self.fake.oauth_url + "/authorize")
        query = parse_qs(url.query)
        self.assertEqual((query["client_id"], query["scope"]), ([self.fake.client_id], ["data:read"]))
        self.assertEqual(body["state_expires_in_s"], 600)

    def test_it_connects_with_a_good_code_and_state(self):
        self.fake.issue_code("code-a", "oauth-token-a")
        response = self.callback(self.alice, code="code-a", state=self.state_for(self.alice))
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual((response.json()["token_status"], response.json()["auth_kind"]), ("active", "oauth"))
        self.assertEqual(Integration.objects.get(user=self.alice).get_token(), "oauth-token-a")
        self.assertNotIn("oauth-token-a", response.content.decode())

    def test_it_refuses_a_reused_state(self):
        state = self.state_for(self.alice)
        self.fake.issue_code("code-b1", "oauth-token-b1")
        self.fake.issue_code("code-b2", "oauth-token-b2")
        self.assertEqual(self.callback(self.alice, code="code-b1", state=state).status_code, 200)
        self.assert_error(self.callback(self.alice, code="code-b2", state=state), 400, "oauth_state_used")
        self.assertEqual(Integration.objects.get(user=self.alice).get_token(), "oauth-token-b1")

    def test_it_refuses_a_state_made_for_someone_else_or_tampered_with(self):
        self.fake.issue_code("code-c", "oauth-token-c")
        state = self.state_for(self.alice)
        self.assert_error(self.callback(self.bob, code="code-c", state=state), 400, "oauth_state_invalid")
        self.assert_error(self.callback(self.alice, code="code-c", state=state[:-2] + "xx"), 400, "oauth_state_invalid")
        self.assert_error(self.callback(self.alice, code="code-c", state="garbage"), 400, "oauth_state_invalid")
        self.assertFalse(Integration.objects.exists())
        self.assertEqual(self.fake.requests_to("/oauth/access_token"), [])

    def test_it_refuses_an_expired_state(self):
        state = self.state_for(self.alice)
        self.fake.issue_code("code-d", "oauth-token-d")
        with override_settings(TODOIST_OAUTH_STATE_MAX_AGE_S=-1):  # every state is now older than allowed
            self.assert_error(self.callback(self.alice, code="code-d", state=state), 400, "oauth_state_expired")
        self.assertFalse(Integration.objects.exists())

    def test_it_refuses_a_code_todoist_does_not_accept(self):
        response = self.callback(self.alice, code="never-issued", state=self.state_for(self.alice))
        self.assert_error(response, 400, "oauth_code_rejected")
        self.assertFalse(Integration.objects.exists())

    def test_it_says_so_when_the_user_declined_at_todoist(self):
        response = self.callback(self.alice, error="access_denied", state=self.state_for(self.alice))
        self.assert_error(response, 400, "oauth_denied")
        self.assertEqual(response.json()["error"]["details"], {"todoist_error": "access_denied"})

    def test_it_answers_502_when_todoist_is_down_during_the_exchange(self):
        self.fake.script("/oauth/access_token", status=503, times=None)
        response = self.callback(self.alice, code="any", state=self.state_for(self.alice))
        self.assert_error(response, 502, "todoist_unavailable")
        self.assertFalse(Integration.objects.exists())

    def test_it_requires_a_state_on_the_callback(self):
        self.assert_error(self.callback(self.alice, code="code-e"), 400, "invalid")

    def test_it_answers_503_when_oauth_is_not_configured(self):
        with override_settings(TODOIST_CLIENT_ID="", TODOIST_CLIENT_SECRET=""):
            self.assert_error(self.api(self.alice).get(AUTHORIZE_URL), 503, "oauth_not_configured")
