"""Routes under /api/v1/integrations/."""

from django.urls import path

from integrations.api import views

app_name = "integrations"

urlpatterns = [
    path("", views.IntegrationListView.as_view(), name="list"),
    path("todoist/", views.TodoistView.as_view(), name="todoist"),
    path("todoist/token/", views.TodoistTokenView.as_view(), name="todoist-token"),
    path("todoist/authorize/", views.TodoistAuthorizeView.as_view(), name="todoist-authorize"),
    path("todoist/callback/", views.TodoistCallbackView.as_view(), name="todoist-callback"),
    path("todoist/webhook/", views.TodoistWebhookView.as_view(), name="todoist-webhook"),
]
