"""manage.py finalize_rewards: close expired reward windows now (what the periodic task does)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.services.rewards import rewards_finalize_expired


class Command(BaseCommand):
    help = "Finalize every tip whose reward window has closed; unanswered tips get the default reward (0)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="tips per transaction")

    def handle(self, *args, batch_size: int | None, **options) -> None:
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        finalized = rewards_finalize_expired(batch_size=batch_size)
        self.stdout.write(f"Finalized {finalized} tip(s) whose reward window had closed.")
