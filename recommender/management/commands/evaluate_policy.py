"""manage.py evaluate_policy: estimate another policy's mean reward from tip_scores (docs/evaluation.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from recommender.evaluation.offline import POSITIONS, STATS, NothingToEvaluate
from recommender.evaluation.report import evaluation_table
from recommender.evaluation.selectors import SEGMENT_COLUMNS, policy_evaluation
from recommender.policies import POLICIES, get_policy, policy_settings
from recommender.policies.base import ArmPolicy
from recommender.services.contextual import model_evaluate
from tipengine.domain_errors import DomainError

# The table and its warnings speak of a slate's tips as people count them; the stored rows count from 0.
POSITIONS_COUNTED = (
    "\nPositions here count from 1 (1 is a slate's first tip); tip_scores.position, the history API, the admin "
    "and --json count from 0."
)


def parse_moment(value: str, option: str) -> datetime:
    """A date (midnight UTC) or an ISO datetime (UTC when it names no zone); CommandError otherwise."""
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"{option} {value!r} is not a date (YYYY-MM-DD) or an ISO datetime.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def target_policy(name: str, epsilon: float | None) -> Any:
    """Build the named policy; CommandError for unknown names or parameters that do not apply."""
    if name not in POLICIES:
        raise CommandError(f"Unknown policy {name!r}; choose one of: {', '.join(sorted(POLICIES))}.")
    params = policy_settings(name)  # what serving uses, unless overridden
    if epsilon is not None:
        if "epsilon" not in params:
            raise CommandError("--epsilon applies to --policy egreedy only.")
        params["epsilon"] = epsilon
    try:
        policy = get_policy(name, **params)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if not isinstance(policy, ArmPolicy):
        raise CommandError(
            f"--policy {name} scores each candidate with a trained model: evaluate a model version with --model N."
        )
    return policy


class Command(BaseCommand):
    help = (
        "Estimate a policy's mean reward per served tip from the logged tips (IPS, self-normalised IPS, "
        "doubly robust, with 95% intervals). Rows without candidate sets or propensities are skipped and counted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--policy", help=f"one of {', '.join(sorted(POLICIES))} (or --model)")
        parser.add_argument(
            "--model", type=int, help="a contextual model version (PolicyModel id), on the picks after its training"
        )
        parser.add_argument("--clip", type=float, help="--model: weight clip (default TIPS_EVALUATION_CLIP)")
        parser.add_argument("--switch", type=float, help="--model: Switch-DR at this weight instead of clipping")
        parser.add_argument("--epsilon", type=float, help="exploration rate of egreedy (default: TIPS_EPSILON)")
        parser.add_argument("--since", help="first day or datetime of the period, inclusive (UTC)")
        parser.add_argument("--until", help="end of the period, exclusive (UTC)")
        parser.add_argument("--by", choices=SEGMENT_COLUMNS, help="also split by this column of the logged tip")
        parser.add_argument(
            "--positions",
            choices=POSITIONS,
            default="first",
            help="slate positions to evaluate: each slate's first tip (position 0 in tip_scores) or all "
            "(default %(default)s)",
        )
        parser.add_argument("--stats", choices=STATS, default="replay", help="arm statistics the target sees")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        if (options["policy"] is None) == (options["model"] is None):
            raise CommandError("Name what to evaluate: --policy NAME or --model N.")
        if options["model"] is not None:
            return self.evaluate_model(options)
        policy = target_policy(options["policy"], options["epsilon"])
        since = parse_moment(options["since"], "--since") if options["since"] else None
        until = parse_moment(options["until"], "--until") if options["until"] else None
        if since and until and since >= until:
            raise CommandError("--since must be before --until.")
        try:
            evaluation = policy_evaluation(
                policy=policy,
                since=since,
                until=until,
                by=options["by"],
                positions=options["positions"],
                stats=options["stats"],
            )
        except NothingToEvaluate as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(evaluation.as_dict(), indent=2, default=str))
        else:
            self.stdout.write(evaluation_table(evaluation))
            if evaluation.diagnostics:
                self.stdout.write(POSITIONS_COUNTED)

    def evaluate_model(self, options: dict[str, Any]) -> None:
        """A model version against the logging policy on its held-out first picks, paired (docs/evaluation.md)."""
        if options["clip"] is not None and options["switch"] is not None:
            raise CommandError("--clip and --switch are two ways to bound the weights: give one.")
        until = parse_moment(options["until"], "--until") if options["until"] else None
        try:
            evaluation = model_evaluate(
                model_id=options["model"], clip=options["clip"], switch=options["switch"], until=until
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        result = {"model": options["model"], **evaluation.as_dict()}
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        bound = f"Switch-DR at {evaluation.switch:g}" if evaluation.switch is not None else f"clip {evaluation.clip}"
        self.stdout.write(f"Contextual model v{options['model']} on {evaluation.n} held-out first picks ({bound})")
        for label, estimate in (
            ("logged policy", evaluation.logged),
            ("model (DR)", evaluation.target),
            ("model - logged", evaluation.difference),
        ):
            self.stdout.write(f"  {label:<15} {estimate.value:+.4f}  95% [{estimate.low:+.4f}, {estimate.high:+.4f}]")
        self.stdout.write(f"  ESS {evaluation.ess:.0f} ({evaluation.ess_share:.0%} of n)")
