"""Re-encrypt every stored token under the first TOKEN_ENCRYPTION_KEYS key, in batches; safe to run twice."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from integrations.crypto import TokenDecryptError, configured_keys, token_primary_key_opens, token_reencrypt
from integrations.models import Integration


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token under the first key of TOKEN_ENCRYPTION_KEYS. Rotation: put the new key "
        "first (keep the old ones after it), deploy, run this, then drop the old keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="Rows locked and rewritten per transaction.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; write nothing.")

    def handle(self, *args: Any, batch_size: int, dry_run: bool, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        keys = configured_keys()
        rotated, current, unreadable = 0, 0, []
        last_pk = 0
        while True:
            with transaction.atomic():
                # Locked, so a token saved by a concurrent connect is not overwritten with an older one.
                rows = list(
                    Integration.objects.select_for_update()
                    .exclude(access_token_encrypted="")
                    .filter(pk__gt=last_pk)
                    .order_by("pk")
                    .only("pk", "access_token_encrypted")[:batch_size]
                )
                if not rows:
                    break
                changed = []
                for row in rows:
                    if token_primary_key_opens(row.access_token_encrypted):
                        current += 1  # already under the first key: a second run rewrites nothing
                        continue
                    try:
                        row.access_token_encrypted = token_reencrypt(row.access_token_encrypted)
                    except TokenDecryptError:
                        unreadable.append(row.pk)
                        continue
                    changed.append(row)
                if changed and not dry_run:
                    Integration.objects.bulk_update(changed, ["access_token_encrypted"])
                rotated += len(changed)
                last_pk = rows[-1].pk
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(
            f"{verb} {rotated} token(s) under the first of {len(keys)} key(s); {current} already current."
        )
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} token(s) could not be decrypted with any configured key "
                f"(integration ids: {', '.join(map(str, unreadable[:50]))}). Add the key they were written with, "
                "or have those users reconnect Todoist."
            )
