"""Backfill benchmark: `manage.py backfill_tip_scores` against one plain UPDATE over the same rows, same run.

Seed first (bench/seed.py), then turn the rows into legacy rows and time both ways of filling them:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench_fb .venv/bin/python bench/seed.py \\
        --migrate --reset --users 10000 --tips 1000000 --active 1000 --tokens-file var/bench/fb_tokens.txt
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/te_bench_fb .venv/bin/python bench/backfill.py \\
        --out var/bench/backfill.json

Preparation (once, untimed): each rule tip's features name its rule (as task_rules.py logs them) and two of
every three requests get their logged candidate set back (one in three logged nothing, so its tips end
up `legacy`); then tip_kind, prompt_version and llm_model are blanked on every row.

Each timed step starts from the same state (legacy columns blank, VACUUM ANALYZE, CHECKPOINT):
  - `plain`: one UPDATE statement setting the three columns to constants on every pending row;
  - `backfill`: the management command in a subprocess (its start-up included), peak RSS from rusage;
  - `plain` again, so neither method is favoured by running first; the faster plain run is the baseline;
then the command once more, which must change nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PENDING = "tip_kind IS NULL OR prompt_version IS NULL OR (source = 'llm' AND llm_model IS NULL)"
PLAIN = (
    "UPDATE tip_scores SET tip_kind = 'legacy', prompt_version = 'legacy', "
    f"llm_model = CASE WHEN source = 'llm' THEN 'legacy' END WHERE {PENDING}"
)
PREPARE = [
    # What task_rules.py logs with a rule tip.
    "UPDATE tip_scores SET features = jsonb_build_object('rule', tip_kind) WHERE source = 'todoist'",
    # The logged candidate sets (TipCandidate.describe()) of two requests in three.
    """UPDATE recommender_tiprequest r SET candidates = s.candidates
       FROM (SELECT request_id, jsonb_agg(jsonb_build_object(
                 'arm', source || ':' || tip_kind, 'kind', tip_kind, 'source', source, 'task_ids', task_ids,
                 'prompt_version', prompt_version, 'llm_model', llm_model,
                 'features', jsonb_build_object('due_age_days', due_age_days))) AS candidates
             FROM tip_scores GROUP BY request_id) s
       WHERE r.id = s.request_id AND r.id % 3 <> 0""",
]
BLANK = "UPDATE tip_scores SET tip_kind = NULL, prompt_version = NULL, llm_model = NULL"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()


def sql(statement: str) -> float:
    """Run one statement in its own transaction; return its wall time in seconds."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    return time.perf_counter() - started


def fresh_state() -> int:
    """Blank the legacy columns, vacuum and checkpoint: every timed step starts from this. Returns pending rows."""
    from django.db import connection

    sql(BLANK)
    with connection.cursor() as cursor:  # VACUUM cannot run in a transaction: autocommit
        cursor.execute("VACUUM ANALYZE tip_scores")
        cursor.execute("CHECKPOINT")
        cursor.execute(f"SELECT COUNT(*) FROM tip_scores WHERE {PENDING}")
        return cursor.fetchone()[0]


def run_command(batch_size: int) -> tuple[float, str]:
    """Run the backfill command in a subprocess; return wall seconds and its output."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "backfill_tip_scores", "--no-progress", f"--batch-size={batch_size}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--skip-prepare", action="store_true", help="the rows were prepared by an earlier run")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    setup_django()

    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "steps": {}}
    if not args.skip_prepare:
        prepare_s = sum(sql(statement) for statement in PREPARE)
        print(f"prepared legacy evidence in {prepare_s:.1f} s", flush=True)

    def step(name: str, rows: int, seconds: float, **extra: Any) -> None:
        results["steps"][name] = {
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds),
            **extra,
        }
        print(name, results["steps"][name], flush=True)

    rows = fresh_state()
    step("plain_1", rows, sql(PLAIN))
    rows = fresh_state()
    seconds, output = run_command(args.batch_size)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    step("backfill", rows, seconds, peak_rss_mb=round(peak_mb, 1), batch_size=args.batch_size, output=output)
    second_s, second_output = run_command(args.batch_size)
    results["second_run"] = {"seconds": round(second_s, 2), "output": second_output.strip()}
    print("second run", results["second_run"], flush=True)
    rows = fresh_state()
    step("plain_2", rows, sql(PLAIN))

    baseline = max(results["steps"]["plain_1"]["rows_per_s"], results["steps"]["plain_2"]["rows_per_s"])
    results["ratio_to_plain"] = round(results["steps"]["backfill"]["rows_per_s"] / baseline, 3)
    results["peak_rss_mb"] = round(peak_mb, 1)
    # Leave the table filled by the command (the state a real backfill leaves).
    fresh_state()
    run_command(args.batch_size)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "steps"}, indent=2))


if __name__ == "__main__":
    main()
