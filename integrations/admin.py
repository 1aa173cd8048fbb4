"""Admin for integrations: statuses and history, read-only; a token (even encrypted) is never shown."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.models import Integration, TaskCompletion, WebhookDelivery
from integrations.tasks import verify_integration
from tipengine.background import enqueue


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows are written by the API and the tasks only; operators look, and use the actions."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(Integration)
class IntegrationAdmin(ReadOnlyAdmin):
    list_display = ("user", "provider", "auth_kind", "token_status", "has_token", "checked_at", "connected_at")
    list_filter = ("provider", "auth_kind", "token_status")
    search_fields = ("user__username", "user__email", "external_user_id")
    list_select_related = ("user",)
    # access_token_encrypted is deliberately absent: not even the ciphertext is shown.
    fields = (
        "user",
        "provider",
        "auth_kind",
        "token_status",
        "has_token",
        "checked_at",
        "last_error",
        "external_user_id",
        "connected_at",
        "completions_synced_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ("reverify",)

    @admin.display(boolean=True, description="token stored")
    def has_token(self, obj: Integration) -> bool:
        return obj.has_token

    @admin.action(description="Re-verify the selected tokens with Todoist (invalid ones too)")
    def reverify(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for pk in ids:
            enqueue(verify_integration, pk, True)  # also tokens marked invalid: an operator asked
        self.message_user(request, f"Queued {len(ids)} verification(s).", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "delivery_id",
        "event_name",
        "external_user_id",
        "received_at",
        "processed_at",
        "outcome",
        "attempts",
    )
    list_filter = ("event_name", "outcome")
    search_fields = ("delivery_id", "external_user_id")
    date_hierarchy = "received_at"


@admin.register(TaskCompletion)
class TaskCompletionAdmin(ReadOnlyAdmin):
    list_display = ("user", "task_id", "completed_at", "source", "recorded_at")
    list_filter = ("source",)
    search_fields = ("user__username", "task_id")
    list_select_related = ("user",)
    date_hierarchy = "completed_at"
