"""The cached token authentication: no query for a known token, and no revoked credential let in."""

from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from testsupport.cases import BaseTestCase
from tipengine.auth import CachedTokenAuthentication
from tipengine.cache_keys import token_cache_key

URL = "/api/v1/integrations/"


class CachedTokenAuthenticationTests(BaseTestCase):
    def test_it_authenticates_a_known_token_without_a_query(self):
        key = self.alice.auth_token.key
        CachedTokenAuthentication().authenticate_credentials(key)
        with self.assertNumQueries(0):
            user, _ = CachedTokenAuthentication().authenticate_credentials(key)
        self.assertEqual(user.pk, self.alice.pk)
        self.assertTrue(user.is_authenticated)

    def test_it_keeps_neither_the_token_nor_the_password_hash_in_the_cache(self):
        key = self.alice.auth_token.key
        CachedTokenAuthentication().authenticate_credentials(key)
        cache_key = token_cache_key(key)
        self.assertNotIn(key, cache_key)
        self.assertEqual(cache.get(cache_key), [self.alice.pk, "alice", True])

    def test_it_rejects_a_deleted_token_at_once(self):
        client = self.api(self.alice)
        self.assertEqual(client.get(URL).status_code, 200)  # now cached
        Token.objects.filter(user=self.alice).get().delete()
        response = client.get(URL)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"]["code"], "authentication_failed")

    def test_it_rejects_a_deactivated_user_at_once(self):
        client = self.api(self.alice)
        self.assertEqual(client.get(URL).status_code, 200)
        self.alice.is_active = False
        self.alice.save()
        self.assertEqual(client.get(URL).status_code, 401)

    def test_it_still_rejects_an_unknown_token(self):
        with self.assertRaises(AuthenticationFailed):
            CachedTokenAuthentication().authenticate_credentials("0" * 40)
        self.assertIsNone(cache.get(token_cache_key("0" * 40)))
