"""Routes under /api/v1/integrations/."""

from django.urls import path

from integrations.api import connections, webhooks

app_name = "integrations"

urlpatterns = [
    path("", connections.IntegrationListApi.as_view(), name="list"),
    path("todoist/", connections.TodoistApi.as_view(), name="todoist"),
    path("todoist/token/", connections.TodoistTokenApi.as_view(), name="todoist-token"),
    path("todoist/authorize/", connections.TodoistAuthorizeApi.as_view(), name="todoist-authorize"),
    path("todoist/callback/", connections.TodoistCallbackApi.as_view(), name="todoist-callback"),
    path("todoist/webhook/", webhooks.TodoistWebhookApi.as_view(), name="todoist-webhook"),
]
