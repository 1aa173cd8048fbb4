"""A trigram index behind the admin's search on tip_scores.title (PostgreSQL only).

Django's `icontains` on PostgreSQL is `UPPER(title::text) LIKE UPPER('%term%')`; a GIN trigram index on
exactly that expression turns the admin search over a million rows from a sequential scan into an index
scan. Built CONCURRENTLY (outside a transaction) so adding it to a live table does not block serving.
Without the pg_trgm extension (no privilege to create it), the migration warns and skips the index:
search still works, only slower.
"""

import logging

from django.db import migrations

logger = logging.getLogger(__name__)

INDEX = "tip_scores_title_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as exc:  # e.g. insufficient privilege on a managed database
            logger.warning("pg_trgm unavailable (%s): the admin's title search will not be indexed", exc)
            return
        cursor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON tip_scores USING gin ((UPPER(title::text)) gin_trgm_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("recommender", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
