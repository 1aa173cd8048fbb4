"""Time the tip_scores admin pages on the seeded benchmark database (server-side, through Django's test client).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/admin_pages.py --repeat 5

Each page is loaded once to warm caches (the filters' distinct values are cached for 5 minutes), then
`--repeat` times; the median and the worst are reported with the number of SQL queries and the slowest one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from recommender.models import TipScore

    operator, _ = get_user_model().objects.get_or_create(username="bench-operator", defaults={"is_staff": True})
    operator.is_staff = operator.is_superuser = True
    operator.save()
    client = Client()
    client.force_login(operator)
    today = timezone.localdate()
    rows = TipScore.objects.count()
    base = "/admin/recommender/tipscore/"
    month = f"?served_at__year={today.year}&served_at__month={today.month}"
    pages = {
        "changelist": base,
        "page 100": base + "?p=100",
        "filter tip_kind": base + "?tip_kind=plan",
        "filter llm_model": base + "?llm_model=anthropic%2Fclaude-haiku-4-5",
        "filter rule tips (llm_model null)": base + "?llm_model=__none__",
        "filter prompt_version": base + "?prompt_version=tips-v1",
        "filter last_action": base + "?last_action=completed",
        "filter no feedback": base + "?last_action=__none__",
        "two filters": base + "?tip_kind=do_now&prompt_version=tips-v2",
        "date: a month": base + month,
        "date: a day": base + month + f"&served_at__day={today.day}",
        "search title": base + "?q=passport",
        "tip detail": base + f"{TipScore.objects.order_by('-id').values_list('id', flat=True).first()}/change/",
        "arm summary: 7 days": base + "arm-summary/",
        "arm summary: 90 days, by kind": base
        + f"arm-summary/?since={(today - timedelta(days=90)).isoformat()}&until={today.isoformat()}&group_by=tip_kind",
    }
    print(f"tip_scores rows: {rows}")
    print("| page | median ms | max ms | queries | slowest query ms |")
    print("|---|---|---|---|---|")
    for name, url in pages.items():
        assert client.get(url).status_code == 200, url
        times, slowest, queries = [], 0.0, 0
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(captured.captured_queries)
            slowest = max(slowest, max(float(q["time"]) * 1000 for q in captured.captured_queries))
        print(f"| {name} | {statistics.median(times):.0f} | {max(times):.0f} | {queries} | {slowest:.0f} |")


if __name__ == "__main__":
    main()
