"""manage.py rebuild_tip_score_days: sum the admin's daily rollup of tip_scores again, for a range of days or all."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.services.rollup import tip_score_days_rebuild


class Command(BaseCommand):
    help = (
        "Sum tip_scores per day again into the admin's rollup (docs/operations.md), then roll up the days that became "
        "final. Without --since/--until the rollup starts afresh. Needed after rows changed behind its back: a "
        "backfill of old tips, deleted users, tips imported with their old days, a restore, a new TIME_ZONE."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=date.fromisoformat, default=None, help="first day (YYYY-MM-DD)")
        parser.add_argument("--until", type=date.fromisoformat, default=None, help="last day, inclusive")
        parser.add_argument("--batch-days", type=int, default=31, help="days summed by one statement")

    def handle(self, *args, since: date | None, until: date | None, batch_days: int, **options) -> None:
        if since and until and since > until:
            raise CommandError("--since must not be after --until.")
        if batch_days < 1:
            raise CommandError("--batch-days must be at least 1.")
        result = tip_score_days_rebuild(first=since, last=until, batch_days=batch_days)
        if result is None:
            self.stdout.write("No tip served yet: nothing to roll up.")
            return
        self.stdout.write(
            f"Rollup rows written: {result.rows}; days before {result.covered_before} are read from the rollup."
        )
