"""Create the demo user (tasks from the bundled sample set) and print its API token."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from integrations.services.tokens import integration_connect_sample


class Command(BaseCommand):
    help = "Create (or keep) the demo user, connect it to the sample task set, and print its API token."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, username: str, base_url: str, **options) -> None:
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        integration_connect_sample(user=user)
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(f"Demo user: {username} (tasks from the bundled sample set)")
        self.stdout.write(f"Demo API token: {token.key}")
        # Quoted: zsh (macOS's shell) takes an unquoted ? as a glob and refuses the line.
        self.stdout.write(f'Try: curl -H "Authorization: Token {token.key}" "{base_url}/api/v1/tips/?limit=3"')
