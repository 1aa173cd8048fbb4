"""manage.py export_tip_scores: the tip_scores of a period and filter as CSV, in constant memory."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.admin_export import csv_lines
from recommender.admin_period import in_period
from recommender.models import TipScore

# Option -> the column it filters on (exact match).
FILTERS = {
    "kind": "tip_kind",
    "source": "source",
    "llm_model": "llm_model",
    "prompt_version": "prompt_version",
    "policy": "request__policy",
}


class Command(BaseCommand):
    help = "Write served tips (tip_scores) as CSV, oldest first, for a period and optional filters."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=date.fromisoformat, help="First day (YYYY-MM-DD, current time zone).")
        parser.add_argument("--until", type=date.fromisoformat, help="Last day, inclusive.")
        parser.add_argument("--user", help="Only this user's tips (username or id).")
        for option, column in FILTERS.items():
            parser.add_argument(f"--{option.replace('_', '-')}", dest=option, help=f"Only tips whose {column} is this.")
        parser.add_argument("--output", "-o", type=Path, help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        since, until = options["since"], options["until"]
        if since and until and since > until:
            raise CommandError("--since must not be after --until.")
        queryset = in_period(TipScore.objects.all(), since, until)
        queryset = queryset.filter(**{column: options[o] for o, column in FILTERS.items() if options[o] is not None})
        if options["user"]:
            queryset = queryset.filter(user=self._user_id(options["user"]))
        lines = csv_lines(queryset)
        if options["output"] is None:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        with options["output"].open("w", newline="", encoding="utf-8") as out:
            out.writelines(lines)

    @staticmethod
    def _user_id(user: str) -> int:
        users = get_user_model().objects
        found = users.filter(username=user).values_list("pk", flat=True).first()
        if found is None and user.isdigit():
            found = users.filter(pk=int(user)).values_list("pk", flat=True).first()
        if found is None:
            raise CommandError(f"No user {user!r}.")
        return found
