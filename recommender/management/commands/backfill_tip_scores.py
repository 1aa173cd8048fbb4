"""manage.py backfill_tip_scores: fill tip_kind, prompt_version and llm_model on legacy tip_scores rows."""

from collections.abc import Iterator

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommender.services.backfill import BackfillSummary, backfill_batches, pending

PLAIN_PROGRESS_STEPS = 10  # without a terminal: a line at each tenth of the rows


class Command(BaseCommand):
    help = (
        "Fill tip_kind, prompt_version and llm_model on tip_scores rows logged before those columns existed, "
        "from the row's features and its request's logged candidates; what cannot be known becomes 'legacy'. "
        "Primary-key batches, one transaction each: safe to kill and rerun; a second run changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per batch/transaction (default 5000)")
        parser.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
        parser.add_argument("--no-progress", action="store_true", help="no progress at all (e.g. in cron logs)")

    def handle(self, *args, batch_size: int, dry_run: bool, no_progress: bool, **options) -> None:
        if not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be between 1 and 100000.")
        total = pending().count()
        summary = BackfillSummary()
        batches = backfill_batches(batch_size=batch_size, dry_run=dry_run, summary=summary)
        if no_progress or not total:
            for _ in batches:
                pass
        elif self.stderr.isatty():
            # tqdm redraws its one line with carriage returns: only a terminal shows that as one bar.
            with tqdm(total=total, unit="rows", desc="backfill_tip_scores", file=self.stderr._out) as bar:
                for rows in batches:
                    bar.update(rows)
        else:
            self._plain_progress(batches, total)
        prefix = "[dry run, nothing written] " if dry_run else ""
        if summary.examined == 0:
            self.stdout.write(f"{prefix}Nothing to backfill: every row already has tip_kind and prompt_version.")
            return
        self.stdout.write(prefix + ("Would change:" if dry_run else "Changed:"))
        for line in summary.lines():
            self.stdout.write(f"  {line}")

    def _plain_progress(self, batches: Iterator[int], total: int) -> None:
        """A log or a pipe would keep every redraw of a bar on one line: whole lines instead, at most ten."""
        done = shown = 0
        for rows in batches:
            done += rows
            if done * PLAIN_PROGRESS_STEPS >= (shown + 1) * total:
                shown = done * PLAIN_PROGRESS_STEPS // total
                self.stderr.write(f"backfill_tip_scores: {done}/{total} rows", style_func=str)
