"""A user's connection to Todoist (token encrypted at rest), webhook deliveries and task completions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from integrations.crypto import token_decrypt, token_encrypt


class Provider(models.TextChoices):
    TODOIST = "todoist", "Todoist"


class TokenStatus(models.TextChoices):
    MISSING = "missing", "Never connected"  # only in API answers: a user without a row
    UNVERIFIED = "unverified", "Stored, not yet checked"
    ACTIVE = "active", "Working"
    INVALID = "invalid", "Rejected by the provider"
    REVOKED = "revoked", "Disconnected"
    ERROR = "error", "Last check failed (not the token)"


class AuthKind(models.TextChoices):
    PERSONAL = "personal", "Personal API token"
    OAUTH = "oauth", "OAuth"
    SAMPLE = "sample", "Bundled sample tasks"


USABLE_STATUSES = (TokenStatus.UNVERIFIED, TokenStatus.ACTIVE, TokenStatus.ERROR)


class Integration(models.Model):
    """One user's connection to one provider; the access token is stored only encrypted (Fernet)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integrations")
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.TODOIST)
    auth_kind = models.CharField(max_length=16, choices=AuthKind.choices)
    # Fernet ciphertext under TOKEN_ENCRYPTION_KEYS; "" once disconnected. Never shown anywhere.
    access_token_encrypted = models.TextField(blank=True, default="", editable=False)
    token_status = models.CharField(max_length=16, choices=TokenStatus.choices, default=TokenStatus.UNVERIFIED)
    checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    # The provider's id for the account: how a webhook (which names only that id) finds our user.
    external_user_id = models.CharField(max_length=64, blank=True, default="")
    # The user's IANA time zone as the provider reports it (Todoist's /user tz_info); "" when unknown.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    connected_at = models.DateTimeField(default=timezone.now)
    # Completions up to here have been pulled (personal tokens get no webhooks).
    completions_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "provider"], name="integration_one_per_provider")]
        indexes = [
            models.Index(fields=["provider", "external_user_id"], name="integration_external_user"),
            models.Index(fields=["provider", "token_status"], name="integration_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for user {self.user_id} ({self.token_status})"

    def __repr__(self) -> str:
        return f"<Integration {self.pk} {self.provider} user={self.user_id} status={self.token_status}>"

    @property
    def has_token(self) -> bool:
        """Return True when an (encrypted) token is stored."""
        return bool(self.access_token_encrypted)

    @property
    def is_usable(self) -> bool:
        """Return True when the stored token may be used to call the provider."""
        return self.has_token and self.token_status in USABLE_STATUSES

    @property
    def is_sample(self) -> bool:
        """Return True for the demo connection that reads the bundled sample tasks."""
        return self.auth_kind == AuthKind.SAMPLE

    @property
    def connected(self) -> bool:
        """Return True when tasks can be read through this integration (as far as we know)."""
        return self.is_sample or self.is_usable

    def set_token(self, token: str) -> None:
        """Store `token` encrypted under the first key (the row still has to be saved)."""
        self.access_token_encrypted = token_encrypt(token)

    def get_token(self) -> str:
        """Return the clear token (raises TokenDecryptError when no configured key opens it)."""
        return token_decrypt(self.access_token_encrypted)

    def clear_token(self) -> None:
        """Forget the token (the row still has to be saved)."""
        self.access_token_encrypted = ""


class WebhookDelivery(models.Model):
    """One accepted webhook delivery; the unique delivery id makes a redelivery a no-op."""

    delivery_id = models.CharField(max_length=128, unique=True)
    event_name = models.CharField(max_length=64)
    external_user_id = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField()  # what was parsed, made storable (NUL and lone surrogates replaced)
    raw_body = models.BinaryField(null=True, editable=False)  # the signed bytes exactly as received
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=32, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)  # processing attempts, for the retry budget

    class Meta:
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_name} delivery {self.delivery_id}"


class CompletionSource(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    PULL = "pull", "Periodic pull"


class TaskCompletion(models.Model):
    """A Todoist task completion credited once: unique per user, task and completion time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_completions")
    task_id = models.CharField(max_length=64)
    completed_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=CompletionSource.choices)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "task_id", "completed_at"], name="task_completion_once"),
        ]

    def __str__(self) -> str:
        return f"Task {self.task_id} completed by user {self.user_id} at {self.completed_at:%Y-%m-%d %H:%M}"
