"""manage.py simulate: synthetic users served by the project's policies; learning curves as CSV and PNG."""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.backends.base.creation import TEST_DATABASE_PREFIX

from recommender.evaluation.report import simulation_table, write_csv, write_png
from recommender.evaluation.simulation import WORLDS, simulate
from recommender.evaluation.simulation_result import DEFAULT_START, SimulationResult
from recommender.policies import POLICIES


def refuse_a_real_database(confirmed: str | None) -> None:
    """--write-logs goes to a test database, or to another one that --confirm-database names; never production.

    Simulated users and tips in a real database mix into its statistics, reports and evaluations.
    """
    if not settings.DEBUG:
        raise CommandError("--write-logs is for development and test databases: run it with DEBUG=1.")
    name = connection.settings_dict["NAME"]
    if not name.startswith(TEST_DATABASE_PREFIX) and confirmed != name:
        raise CommandError(
            f"--write-logs would write simulated users, requests and tips into the database {name!r}, which is not "
            f"a test database ({TEST_DATABASE_PREFIX}*); add --confirm-database {name} to write them there."
        )


def positive(name: str, value: int, limit: int) -> int:
    if not 1 <= value <= limit:
        raise CommandError(f"{name} must be between 1 and {limit}, not {value}.")
    return value


class Command(BaseCommand):
    help = (
        "Simulate users with hidden preferences served by the given policies and an oracle; print cumulative "
        "reward and regret, write simulation.csv and learning_curves.png to --out. Progress goes to stderr, a "
        "line as each seed starts and ends (-v 0: none)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=100, help="simulated users (default %(default)s)")
        parser.add_argument("--rounds", type=int, default=100, help="requests per user (default %(default)s)")
        parser.add_argument(
            "--policies",
            default="egreedy,thompson,ucb1",
            help=f"comma-separated policy names (default %(default)s; known: {', '.join(sorted(POLICIES))})",
        )
        parser.add_argument(
            "--world",
            choices=WORLDS,
            default="default",
            help="the simulated world (default %(default)r): in default, arms and urgency decide; in contextual, "
            "who asks, when and about which task decide (docs/evaluation.md)",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="random seed of the first replicate (default %(default)s)"
        )
        parser.add_argument(
            "--replicates",
            type=int,
            help="seeds SEED, SEED+1, ... run and plotted as bands (default 3, 1 with --judge); the table, "
            "--write-logs and --json's summary are the first seed's",
        )
        parser.add_argument("--slate", type=int, default=1, help="tips served per request (default %(default)s)")
        parser.add_argument(
            "--epsilon",
            type=float,
            help=f"egreedy's exploration rate (default TIPS_EPSILON, now {settings.TIPS_EPSILON})",
        )
        parser.add_argument(
            "--out",
            default=str(settings.VAR_DIR / "simulation"),
            help="directory for CSV and PNG (default %(default)s)",
        )
        parser.add_argument(
            "--write-logs",
            metavar="POLICY",
            help="also write this policy's simulated users, requests and tips (TipRequest, tip_scores, feedback) "
            "into the database; with DEBUG=1 only, and into a database other than a test one (test_*) only with "
            "--confirm-database (default: write nothing)",
        )
        parser.add_argument(
            "--confirm-database",
            metavar="NAME",
            help="the name of the database --write-logs may write into when it is not a test database "
            "(default: none, so only test databases)",
        )
        parser.add_argument(
            "--judge", action="store_true", help="let the judge alias play the users, when configured (default off)"
        )
        parser.add_argument(
            "--json", action="store_true", help="print the summary as JSON on stdout (default off: a table)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names = [n.strip() for n in options["policies"].split(",") if n.strip()]
        unknown = sorted(set(names) - set(POLICIES))
        if not names or unknown:
            raise CommandError(f"Unknown policies {unknown}; choose from: {', '.join(sorted(POLICIES))}.")
        users = positive("--users", options["users"], 100_000)
        rounds = positive("--rounds", options["rounds"], 100_000)
        slate = positive("--slate", options["slate"], 10)
        replicates = options["replicates"] or (1 if options["judge"] else 3)
        replicates = positive("--replicates", replicates, 20)
        epsilon = settings.TIPS_EPSILON if options["epsilon"] is None else options["epsilon"]
        if not 0.0 <= epsilon <= 1.0:
            raise CommandError(f"--epsilon must be in [0, 1], not {epsilon}.")
        keep = options["write_logs"]
        if keep and keep not in names:
            raise CommandError(f"--write-logs {keep!r} must be one of the simulated --policies ({', '.join(names)}).")
        if keep:
            refuse_a_real_database(options["confirm_database"])
        responder = self._judge() if options["judge"] else None
        out = Path(options["out"])
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"Cannot create --out directory {out}: {exc.strerror}.") from exc
        # One seed at a time. The first one's requests of --write-logs go to the database round by round (one
        # transaction), never all kept in memory; the other seeds only give their curves.
        params = {"users": users, "rounds": rounds, "slate": slate, "epsilon": epsilon, "world": options["world"]}
        seed = options["seed"]
        writer = self._writer(keep, seed=seed, **params) if keep else None
        self._progress = options["verbosity"] > 0
        with transaction.atomic() if writer else nullcontext():
            sink = writer.write if writer else None
            results = [self._simulate(names, keep, responder, (1, replicates), seed=seed, sink=sink, **params)]
        results += [
            self._simulate(names, None, responder, (i + 1, replicates), seed=seed + i, **params)
            for i in range(1, replicates)
        ]
        result = results[0]
        csv_path = write_csv(results, out / "simulation.csv")
        png_path = write_png(results, out / "learning_curves.png")
        written = writer.written if writer else None
        if options["json"]:
            payload = {
                "summary": result.summary(),
                "replicates": [{"seed": r.seed, "summary": r.summary()} for r in results],
                "csv": str(csv_path),
                "png": str(png_path),
                "written": written,
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        self.stdout.write(simulation_table(results))
        self.stdout.write(f"\nWrote {csv_path} and {png_path}")
        if written:
            self.stdout.write(
                f"Wrote {written['requests']} requests and {written['tips']} tips of {keep} "
                f"for {written['users']} simulated users (starting {result.start:%Y-%m-%d})."
            )
        if responder is not None:
            self.stdout.write(f"The judge answered {responder.calls} times.")

    def _judge(self) -> Any:
        # Only --judge needs the judge (and with it the gateway module).
        from recommender.evaluation.judge import JudgeResponder, judge_configured

        if not judge_configured():
            raise CommandError(
                "--judge needs the judge alias: set LITELLM_URL (a LiteLLM proxy that serves `judge`) or the "
                "variables its entry in the alias file reads (e.g. ANTHROPIC_API_KEY)."
            )
        return JudgeResponder()

    def _writer(self, policy: str, *, seed: int, users: int, slate: int, epsilon: float, **_: Any) -> Any:
        # Only --write-logs writes to the database: a dry run does not load the recorder.
        from recommender.evaluation.recording import SimulationLogWriter

        return SimulationLogWriter(
            policy=policy, users=users, seed=seed, slate=slate, epsilon=epsilon, start=DEFAULT_START
        )

    def _simulate(
        self, names: list[str], keep: str | None, responder: Any, step: tuple[int, int], **params: Any
    ) -> SimulationResult:
        from recommender.evaluation.judge import JudgeError  # as in _judge: loaded only when a run may judge

        # Progress on stderr, so --json's stdout stays one JSON document; -v 0 silences it. Every policy serves
        # each round before the next is drawn, so a seed is the unit of progress, and its line gives each policy.
        which = f"simulate: seed {params['seed']} ({step[0]} of {step[1]})"
        self._say(
            f"{which}: {', '.join(names)} and the oracle, {params['users']} users x {params['rounds']} rounds"
            + (f", writing {keep}'s logs" if keep else "")
        )
        started = time.perf_counter()
        try:
            result = simulate(
                policies=names,
                keep=(keep,) if keep else (),
                responder=responder,
                shrinkage=settings.TIPS_SHRINKAGE_STRENGTH,
                **params,
            )
        except JudgeError as exc:
            raise CommandError(str(exc)) from exc
        rewards = ", ".join(f"{s['policy']} {s['mean_reward']:.3f}" for s in result.summary())
        self._say(f"{which} done in {time.perf_counter() - started:.1f} s; mean reward: {rewards}")
        return result

    def _say(self, line: str) -> None:
        if self._progress:
            self.stderr.write(line, style_func=str)  # progress, not an error: not in the error colour
