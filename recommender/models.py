"""Served tips (tip_scores), the serve calls that produced them, feedback events and arm statistics."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from generation.candidates import TipKind, TipSource, arm_name


class TipRequest(models.Model):
    """One serve call: the policy, the candidate set it was offered, and why it was degraded."""

    # No single-column index: tiprequest_user_recent (user, -id) serves every lookup by user, and one index
    # fewer is one write fewer on the serving path.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tip_requests", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    policy = models.CharField(max_length=32)
    policy_params = models.JSONField(default=dict)
    # One entry per candidate offered (TipCandidate.describe()): what offline evaluation replays.
    candidates = models.JSONField(default=list)
    degraded = models.JSONField(default=list)
    # What the policy decided from: arm -> [count, reward_sum], the estimates it read (cache included), so
    # offline evaluation replays exactly them (docs/evaluation.md). Null on requests logged before it existed.
    arm_estimates = models.JSONField(null=True, blank=True)
    # The contextual model version that scored the request (PolicyModel id), so it can be replayed.
    model_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-id"], name="tiprequest_user_recent")]

    def __str__(self) -> str:
        return f"TipRequest {self.pk} for user {self.user_id}"


# What a served tip says and where it came from: the one list serving writes and the history API shows.
SERVED_TIP_CONTENT = ("tip_kind", "source", "title", "body", "rationale", "task_ids", "prompt_version", "llm_model")
# The columns a served tip is written with (slate order, content, the policy's numbers); the rest start empty.
SERVED_TIP_COLUMNS = ("position", *SERVED_TIP_CONTENT, "score", "propensity", "due_age_days", "features")


class TipScore(models.Model):
    """One served tip, logged with everything needed to learn from it and evaluate other policies."""

    request = models.ForeignKey(TipRequest, on_delete=models.CASCADE, related_name="scores")
    user = models.ForeignKey(  # indexed by tip_scores_user_recent (user, -id), as TipRequest.user is
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tip_scores", db_index=False
    )
    position = models.PositiveSmallIntegerField()
    # Nullable because rows logged before these columns existed are filled by backfill_tip_scores.
    tip_kind = models.CharField(max_length=20, choices=TipKind.choices, null=True, blank=True)
    source = models.CharField(max_length=10, choices=TipSource.choices)
    title = models.CharField(max_length=120)
    body = models.TextField(blank=True)
    rationale = models.TextField(blank=True)
    task_ids = models.JSONField(default=list)
    prompt_version = models.CharField(max_length=64, null=True, blank=True)
    # The concrete model that answered, as the gateway reported it (never the alias); null for rule tips.
    llm_model = models.CharField("LLM model", max_length=128, null=True, blank=True)
    score = models.FloatField()
    # Probability that the logging policy picked this tip at this position; null only for legacy rows.
    propensity = models.FloatField(null=True, blank=True)
    due_age_days = models.IntegerField(null=True, blank=True)
    features = models.JSONField(default=dict)
    served_at = models.DateTimeField(default=timezone.now)
    last_action = models.CharField(max_length=20, null=True, blank=True)
    reward = models.FloatField(null=True, blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "tip_scores"
        indexes = [
            models.Index(fields=["user", "-id"], name="tip_scores_user_recent"),
            models.Index(fields=["served_at"], name="tip_scores_served_at"),
            models.Index(fields=["tip_kind", "served_at"], name="tip_scores_kind"),
            models.Index(fields=["source", "served_at"], name="tip_scores_source"),
            models.Index(fields=["prompt_version", "served_at"], name="tip_scores_prompt"),
            models.Index(fields=["llm_model", "served_at"], name="tip_scores_model"),
            models.Index(fields=["last_action", "served_at"], name="tip_scores_action"),
            models.Index(fields=["served_at"], condition=Q(finalized_at__isnull=True), name="tip_scores_open"),
        ]

    def __str__(self) -> str:
        return f"Tip {self.pk}: {self.title}"

    @property
    def arm(self) -> str:
        """Return the bandit arm this tip was served from."""
        return arm_name(self.source, self.tip_kind or "legacy")

    @property
    def is_final(self) -> bool:
        """Return True once the reward can no longer change."""
        return self.finalized_at is not None


class FeedbackEvent(models.Model):
    """Every feedback call, kept (not only the last); replayable by its idempotency key."""

    tip = models.ForeignKey(TipScore, on_delete=models.CASCADE, related_name="events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback_events")
    action = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)
    until = models.DateTimeField(null=True, blank=True)
    reward = models.FloatField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    response = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="feedback_idempotency_key_unique",
            )
        ]
        indexes = [
            models.Index(fields=["tip", "created_at"], name="feedback_tip_time"),
            # A user's recent events: the prompt context's counts and serving's cool-downs.
            models.Index(fields=["user", "created_at"], name="feedback_user_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} on tip {self.tip_id}"


class ArmStat(models.Model):
    """Count and reward sum of finalized tips per arm: global when user is null, else per user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True)
    arm = models.CharField(max_length=40)
    count = models.BigIntegerField(default=0)
    reward_sum = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["arm"], condition=Q(user__isnull=True), name="armstat_global_unique"),
            models.UniqueConstraint(
                fields=["user", "arm"], condition=Q(user__isnull=False), name="armstat_user_unique"
            ),
        ]

    def __str__(self) -> str:
        scope = "global" if self.user_id is None else f"user {self.user_id}"
        return f"{self.arm} ({scope}): {self.reward_sum}/{self.count}"

    @property
    def mean(self) -> float | None:
        """Return the mean reward, or None before any reward."""
        return self.reward_sum / self.count if self.count else None


class PolicyModel(models.Model):
    """A versioned contextual model: what it learned from (a range of finalized tips), its bytes and metrics."""

    created_at = models.DateTimeField(default=timezone.now)
    # The version it continued from (None for the first): training is incremental.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    trained_from = models.DateTimeField(null=True, blank=True)  # finalized_at of the first row it learned from
    trained_until = models.DateTimeField(null=True, blank=True)  # ... and of the last one (the next starts after)
    rows = models.PositiveIntegerField(default=0)  # slate positions learned in this version
    total_rows = models.PositiveIntegerField(default=0)  # ... and in all its ancestors together
    metrics = models.JSONField(default=dict)
    weights = models.BinaryField()

    class Meta:
        db_table = "policy_models"

    def __str__(self) -> str:
        return f"Model v{self.pk}"


class PolicySwitch(models.Model):
    """An audit row: serving switched to a policy (and model), who did it, on what evidence, and whether forced."""

    created_at = models.DateTimeField(default=timezone.now)
    policy = models.CharField(max_length=32)
    model = models.ForeignKey(PolicyModel, null=True, blank=True, on_delete=models.PROTECT, related_name="switches")
    actor = models.CharField(max_length=150)
    overridden = models.BooleanField(default=False)  # promoted although the gate said no
    reason = models.TextField(blank=True)
    evaluation = models.JSONField(default=dict)  # the paired estimate the gate decided on

    class Meta:
        db_table = "policy_switches"
        indexes = [models.Index(fields=["-created_at"], name="policy_switch_recent")]

    def __str__(self) -> str:
        return f"{self.policy} v{self.model_id}" if self.model_id else self.policy


class PolicyEvaluation(models.Model):
    """One offline evaluation of a model version on held-out traffic: who asked, its progress and its evidence."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    model = models.ForeignKey(PolicyModel, on_delete=models.PROTECT, related_name="evaluations")
    actor = models.CharField(max_length=150)  # who ran it: an operator's username, or the shell's login name
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    clip = models.FloatField(null=True, blank=True)  # the weight clip asked for (None: TIPS_EVALUATION_CLIP)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The traffic evaluated: first picks finalized after the model's training and up to the run's start.
    held_out_after = models.DateTimeField(null=True, blank=True)
    held_out_until = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict)  # PairedEvaluation.as_dict(): n, logged, target, difference, ESS
    passed = models.BooleanField(null=True, blank=True)  # the promotion gate's answer on this evidence
    verdict = models.TextField(blank=True)
    error = models.TextField(blank=True)  # why a failed run failed

    class Meta:
        db_table = "policy_evaluations"
        verbose_name = "offline evaluation"

    def __str__(self) -> str:
        return f"Evaluation {self.pk} of model v{self.model_id}"


class TipScoreDay(models.Model):
    """Tip_scores summed per day (in `zone`) and per group of the admin's pages, for days whose rows are all final.

    Built by `recommender.services.rollup` (docs/adr/0099). Every figure is a sum, so any grouping of these rows
    adds up to what the same grouping of the tips gives; rewards are multiples of 1/8, so even the reward sums
    and sums of squares are exact.
    """

    zone = models.CharField(max_length=64)  # the time zone the day is in (TIME_ZONE when it was summed)
    day = models.DateField()
    prompt_version = models.CharField(max_length=64, null=True)
    llm_model = models.CharField("LLM model", max_length=128, null=True)
    tip_kind = models.CharField(max_length=20, null=True)
    source = models.CharField(max_length=10)
    policy = models.CharField(max_length=32)  # the request's
    model_version = models.PositiveIntegerField(null=True)  # the request's
    served = models.BigIntegerField()
    with_feedback = models.BigIntegerField()
    rewarded = models.BigIntegerField()  # final rewards
    reward_sum = models.FloatField()  # of the final rewards
    reward_squares = models.FloatField()  # the sum of their squares

    class Meta:
        db_table = "tip_score_days"
        constraints = [
            # NULLS NOT DISTINCT: a rule tip's null model is one group, and the refresh's ON CONFLICT finds it.
            models.UniqueConstraint(
                fields=["zone", "day", "prompt_version", "llm_model", "tip_kind", "source", "policy", "model_version"],
                name="tip_score_days_group",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.source}/{self.tip_kind}: {self.served} served"


class TipScoreDaysCovered(models.Model):
    """Up to which day `tip_score_days` holds every tip of `zone`: all days before `before` (docs/adr/0099)."""

    zone = models.CharField(max_length=64, primary_key=True)
    before = models.DateField()  # the first day the pages read live from tip_scores
    refreshed_at = models.DateTimeField()

    class Meta:
        db_table = "tip_score_days_covered"

    def __str__(self) -> str:
        return f"{self.zone}: days before {self.before}"


class TipRequestShadowDay(models.Model):
    """Serves a shadow model scored, and how many it agreed with, per day (in `zone`) and shadow version.

    The model versions page's apprentice agreement for the days `TipScoreDaysCovered` covers (docs/adr/0099): a
    request's policy_params are written once, as it is served, so a past day's counts never change.
    """

    zone = models.CharField(max_length=64)
    day = models.DateField()
    model_version = models.PositiveIntegerField(null=True)  # the shadow model's (policy_params.shadow.model_version)
    shadowed = models.BigIntegerField()
    agreed = models.BigIntegerField()

    class Meta:
        db_table = "tip_request_shadow_days"
        constraints = [
            models.UniqueConstraint(
                fields=["zone", "day", "model_version"], name="tip_request_shadow_days_key", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} v{self.model_version}: {self.agreed}/{self.shadowed} agreed"
