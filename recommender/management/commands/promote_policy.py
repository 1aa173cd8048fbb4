"""manage.py promote_policy: switch serving to a contextual model version, behind the evaluation gate."""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.services.contextual import policy_model_train, policy_promote
from recommender.services.evaluations import policy_evaluation_run
from tipengine.domain_errors import DomainError


class Command(BaseCommand):
    help = (
        "Evaluate a contextual model version on the logged picks finalized after its training (doubly robust, "
        "paired with the logged policy) and switch serving to it when the interval's lower bound is above zero "
        "on enough picks; --override switches anyway and is recorded as such. Every switch is an audit row."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", type=int, help="model version (PolicyModel id) to evaluate and promote")
        parser.add_argument("--train", action="store_true", help="first train a new version from new rewards")
        parser.add_argument(
            "--dry-run", action="store_true", help="evaluate only: record the evaluation and print the gate's evidence"
        )
        parser.add_argument("--override", action="store_true", help="promote although the gate refuses")
        parser.add_argument("--reason", default="", help="why (required with --override; kept in the audit row)")
        parser.add_argument("--clip", type=float, help="weight clip of the estimate (default TIPS_EVALUATION_CLIP)")
        parser.add_argument("--actor", default=None, help="who promotes (default: the login name)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["override"] and not options["reason"].strip():
            raise CommandError("--override needs --reason: the audit row says why the gate was overruled.")
        model_id = options["model"]
        if options["train"]:
            trained = policy_model_train()
            if trained is None and model_id is None:
                raise CommandError("No rewards were finalized since the newest model: nothing to train on.")
            model_id = trained.pk if trained else model_id
        if model_id is None:
            raise CommandError("Name a model version with --model (or train one with --train).")
        actor = options["actor"] or getpass.getuser()
        try:
            if options["dry_run"]:
                evaluation = policy_evaluation_run(model_id=model_id, actor=actor, clip=options["clip"])
                if evaluation.error:
                    raise CommandError(evaluation.error)
                evidence = {"model": model_id, "evaluation": evaluation.pk, **evaluation.result}
                self.stdout.write(json.dumps({**evidence, "verdict": evaluation.verdict}, indent=2))
                return
            switch = policy_promote(
                model_id=model_id,
                actor=actor,
                override=options["override"],
                reason=options["reason"],
                clip=options["clip"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        value, low, high = (_number(switch.evaluation["difference"][k]) for k in ("value", "low", "high"))
        self.stdout.write(
            f"Serving switched to contextual model v{model_id} (switch {switch.pk}"
            f"{', overridden' if switch.overridden else ''}): target - logged = {value} [{low}, {high}] "
            f"on {switch.evaluation['n']} picks."
        )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
