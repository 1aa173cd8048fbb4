"""manage.py rebuild_arm_stats: recompute the arm statistics from the final rewards in tip_scores."""

from django.core.management.base import BaseCommand

from recommender.services.stats import arm_stats_rebuild


class Command(BaseCommand):
    help = "Recompute global and per-user arm statistics from tip_scores (the same numbers the increments give)."

    def handle(self, *args, **options) -> None:
        result = arm_stats_rebuild()
        self.stdout.write(f"Arm statistics rebuilt: {result['written']} rows written, {result['deleted']} replaced.")
