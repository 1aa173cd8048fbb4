"""Statistics on the day a tip was served, so PostgreSQL plans the admin's per-day aggregates right.

The arm comparison and the model versions page group tip_scores by `(served_at AT TIME ZONE zone)::date`
(TruncDate in the current time zone). Without statistics on that expression PostgreSQL expects ~320,000 groups
instead of ~4,000 on a million rows and plans the aggregate in one process: 1.2 s; with them, a parallel plan,
0.5 s (docs/benchmarks.md, ADR 0089). The expression must be the query's exactly, so it names TIME_ZONE as it is
when migrating; after changing TIME_ZONE, run this migration backwards and forwards again.
"""

import re

from django.conf import settings
from django.db import migrations

NAME = "tip_scores_served_day"


def create(apps, schema_editor):
    zone = settings.TIME_ZONE
    if not re.fullmatch(r"[A-Za-z0-9_/+-]+", zone):  # a literal in DDL (no parameters there): only a zone name
        raise ValueError(f"TIME_ZONE {zone!r} is not a time zone name")
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {NAME} ON ((served_at AT TIME ZONE '{zone}')::date) FROM tip_scores"
    )
    schema_editor.execute("ANALYZE tip_scores")  # a sample: seconds on millions of rows; autovacuum would, later


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("recommender", "0008_policy_evaluations")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
