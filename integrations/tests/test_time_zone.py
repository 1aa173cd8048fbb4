"""The user's time zone: read from Todoist's /user when connecting and verifying, kept on the integration."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import Integration
from integrations.selectors import user_time_zone
from integrations.services.tokens import integration_connect_sample, integration_verify
from integrations.tests.support import TodoistTestCase

TOKEN_URL = reverse("integrations:todoist-token")
TOKEN = "b1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


class TimeZoneTests(TodoistTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.fake.add_account(TOKEN, user_id="9101")
        self.fake.set_timezone(TOKEN, "Europe/Berlin")  # the fake outlives the test: an earlier one may change it

    def connect(self, status: int = 200) -> None:
        response = self.api(self.alice).post(TOKEN_URL, {"token": TOKEN}, format="json")
        self.assertEqual(response.status_code, status, response.json())

    def test_it_keeps_the_zone_todoist_reports_when_connecting(self):
        self.connect()
        self.assertEqual(Integration.objects.get(user=self.alice).time_zone, "Europe/Berlin")
        self.assertEqual(user_time_zone(user_id=self.alice.pk), "Europe/Berlin")

    def test_it_follows_a_zone_changed_in_todoist_at_the_next_check(self):
        self.connect()
        self.assertEqual(user_time_zone(user_id=self.alice.pk), "Europe/Berlin")  # now cached
        self.fake.set_timezone(TOKEN, "America/New_York")
        integration_verify(integration=Integration.objects.get(user=self.alice))
        self.assertEqual(user_time_zone(user_id=self.alice.pk), "America/New_York")

    def test_it_keeps_the_known_zone_when_a_reconnect_cannot_reach_todoist(self):
        self.connect()
        self.fake.script("/api/v1/user", status=503, times=None)
        self.connect(status=202)  # stored unverified
        self.assertEqual(user_time_zone(user_id=self.alice.pk), "Europe/Berlin")

    def test_the_zone_is_unknown_without_a_connection_or_for_the_sample_tasks(self):
        self.assertIsNone(user_time_zone(user_id=self.bob.pk))
        self.connect()
        integration_connect_sample(user=self.alice)
        self.assertIsNone(user_time_zone(user_id=self.alice.pk))

    def test_it_reads_the_zone_from_the_cache_once_known(self):
        self.connect()
        user_time_zone(user_id=self.alice.pk)
        with self.assertNumQueries(0):
            self.assertEqual(user_time_zone(user_id=self.alice.pk), "Europe/Berlin")
